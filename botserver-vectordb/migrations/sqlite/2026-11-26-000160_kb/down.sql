DROP TABLE kb_chunks;
DROP TABLE kb_documents;
