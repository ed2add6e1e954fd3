DROP TABLE drive_shares;
DROP TABLE drive_trash;
DROP TABLE drive_quotas;
DROP TABLE drive_files;
