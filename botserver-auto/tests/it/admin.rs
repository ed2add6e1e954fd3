//! Bot packages as zip archives: what an upload accepts and refuses (traversal, links,
//! bombs, too many entries, another bot's folders), secrets blanked on export, and the
//! round trip upload → export → upload.

use botserver_auto::admin::{
    self, ArchiveError, MAX_ENTRIES, MAX_FILE_BYTES, MAX_TOTAL_BYTES, blank_secrets, export_dir,
    export_package, extract, keep_secrets, write_zip,
};
use std::io::{Cursor, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<(String, Vec<u8>)> = files.iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect();
    write_zip(&entries).unwrap()
}

/// Extracts into a fresh folder under `tmp`.
fn extract_in(
    tmp: &Path,
    bot: &str,
    archive: &[u8],
) -> (std::path::PathBuf, Result<admin::Extracted, ArchiveError>) {
    let dest = tmp.join(format!("out-{}", uuid::Uuid::new_v4()));
    let r = extract(bot, archive, &dest);
    (dest, r)
}

/// Every file under `dir`, with its size.
fn files(dir: &Path) -> Vec<(String, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::metadata(&p).unwrap().len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn invalid(r: Result<admin::Extracted, ArchiveError>) -> String {
    match r {
        Err(ArchiveError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn too_large(r: Result<admin::Extracted, ArchiveError>) -> String {
    match r {
        Err(ArchiveError::TooLarge(m)) => m,
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

const START: &[u8] = b"TALK \"hi\"\n";

#[test]
fn both_layouts_are_accepted_and_macos_metadata_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let rooted = zip_of(&[
        ("shop.gbai/shop.gbdialog/start.bas", START),
        ("shop.gbai/shop.gbdialog/tools/order.bas", b"RETURN 1\n"),
        ("shop.gbai/shop.gbot/config.csv", b"bot-name,Shop\n"),
        ("__MACOSX/shop.gbai/._start.bas", b"junk"),
    ]);
    let (dest, r) = extract_in(tmp.path(), "shop", &rooted);
    assert_eq!(r.unwrap().files, 3);
    assert_eq!(
        files(&dest),
        [
            ("shop.gbdialog/start.bas".to_string(), START.len() as u64),
            ("shop.gbdialog/tools/order.bas".to_string(), 9),
            ("shop.gbot/config.csv".to_string(), 14),
        ]
    );

    let direct = zip_of(&[
        ("shop.gbdialog/start.bas", START),
        ("shop.gbot/config.csv", b"bot-name,Shop\n"),
    ]);
    let (dest, r) = extract_in(tmp.path(), "shop", &direct);
    r.unwrap();
    assert_eq!(files(&dest).len(), 2);
    assert!(dest.join("shop.gbdialog/start.bas").is_file());

    // A bot without scripts (settings, a knowledge base) is a bot too; an archive with no
    // package folder at all is not a package.
    let (_, r) = extract_in(tmp.path(), "shop", &zip_of(&[("shop.gbot/config.csv", b"a,b\n")]));
    r.unwrap();
    let (_, r) = extract_in(
        tmp.path(),
        "shop",
        &zip_of(&[("README.md", b"hi\n"), ("notes/", b"")]),
    );
    assert!(invalid(r).contains("no shop.gbdialog, shop.gbot"));
}

#[test]
fn traversal_absolute_paths_backslashes_nul_and_links_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, why) in [
        ("../evil.bas", "`..`"),
        ("shop.gbdialog/../../evil.bas", "`..`"),
        ("/etc/evil.bas", "absolute"),
        ("shop.gbdialog\\..\\..\\evil.bas", "backslash"),
        ("C:/evil.bas", "`:`"),
        ("shop.gbdialog//evil.bas", "empty"),
        ("shop.gbdialog/./evil.bas", "empty or `.`"),
    ] {
        let archive = zip_of(&[("shop.gbdialog/start.bas", START), (name, b"TALK 1\n")]);
        let (_, r) = extract_in(tmp.path(), "shop", &archive);
        let m = invalid(r);
        assert!(m.contains(why), "{name}: {m}");
    }
    assert!(!tmp.path().join("evil.bas").exists());

    // A NUL in a name (patched in: writers refuse to write one).
    let mut archive = zip_of(&[
        ("shop.gbdialog/start.bas", START),
        ("shop.gbdialog/aXb.bas", b"x"),
    ]);
    let at: Vec<usize> = archive
        .windows(5)
        .enumerate()
        .filter(|(_, w)| w == b"aXb.b")
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(at.len(), 2, "local and central headers");
    for i in at {
        archive[i] = 0;
    }
    let (_, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(invalid(r).contains("NUL"));

    // A symbolic link, even one pointing inside the package.
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("shop.gbdialog/start.bas", SimpleFileOptions::default())
        .unwrap();
    w.write_all(START).unwrap();
    w.add_symlink(
        "shop.gbdialog/link.bas",
        "/etc/passwd",
        SimpleFileOptions::default(),
    )
    .unwrap();
    let archive = w.finish().unwrap().into_inner();
    let (dest, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(invalid(r).contains("links"));
    assert!(std::fs::symlink_metadata(dest.join("shop.gbdialog/link.bas")).is_err());

    // A name given twice (the writer refuses to: patched in), a file where a folder goes.
    let mut archive = zip_of(&[
        ("shop.gbdialog/start.bas", START),
        ("shop.gbdialog/stary.bas", START),
    ]);
    for i in 0..archive.len() - 5 {
        if &archive[i..i + 5] == b"stary" {
            archive[i..i + 5].copy_from_slice(b"start");
        }
    }
    let (_, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(invalid(r).contains("twice"));
    let archive = zip_of(&[
        ("shop.gbdialog/start.bas", START),
        ("shop.gbdialog/start.bas/x.bas", START),
    ]);
    let (_, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(invalid(r).contains("clashes"));

    // Not a zip at all.
    let (_, r) = extract_in(tmp.path(), "shop", b"PK\x03\x04 but not really a zip");
    assert!(invalid(r).contains("zip"));
    let (_, r) = extract_in(tmp.path(), "shop", b"");
    assert!(invalid(r).contains("not a zip archive"));
}

#[test]
fn another_bots_entries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "other.gbai/other.gbdialog/start.bas",
        "other.gbdialog/start.bas",
        "shop.gbai/other.gbdialog/start.bas",
        "shop.gbai/other.gbot/config.csv",
    ] {
        let archive = zip_of(&[("shop.gbdialog/start.bas", START), (name, START)]);
        let (_, r) = extract_in(tmp.path(), "shop", &archive);
        let m = invalid(r);
        assert!(m.contains("another bot"), "{name}: {m}");
    }
    // A package nested in the package.
    let archive = zip_of(&[
        ("shop.gbdialog/start.bas", START),
        ("shop.gbai/shop.gbai/shop.gbdialog/start.bas", START),
    ]);
    let (_, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(invalid(r).contains("inside the package"));
}

#[test]
fn a_zip_bomb_is_stopped_while_inflating_whatever_its_headers_say() {
    let tmp = tempfile::tempdir().unwrap();
    let big = vec![0u8; MAX_FILE_BYTES as usize + 1];

    // Honest headers: refused before inflating.
    let archive = zip_of(&[
        ("shop.gbdialog/start.bas", START),
        ("shop.gbdialog/big.txt", &big),
    ]);
    assert!(archive.len() < 100_000, "zeros deflate well: {}", archive.len());
    let (_, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(too_large(r).contains("larger than"));

    // Lying headers (declared size 100 bytes): the bytes are counted as they come.
    let mut lying = archive.clone();
    let size = (MAX_FILE_BYTES as u32 + 1).to_le_bytes();
    let mut patched = 0;
    for i in 0..lying.len().saturating_sub(30) {
        let sig = &lying[i..i + 4];
        let field = if sig == [0x50, 0x4b, 0x03, 0x04] {
            i + 22 // local header: uncompressed size
        } else if sig == [0x50, 0x4b, 0x01, 0x02] {
            i + 24 // central header: uncompressed size
        } else {
            continue;
        };
        if lying[field..field + 4] == size {
            lying[field..field + 4].copy_from_slice(&100u32.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
    let (dest, r) = extract_in(tmp.path(), "shop", &lying);
    assert!(r.is_err(), "{r:?}");
    assert!(
        files(&dest).iter().all(|(_, len)| *len <= MAX_FILE_BYTES),
        "{:?}",
        files(&dest)
    );

    // Many files under the per-file limit: the total is bounded too. The 15 MiB entry is
    // deflated once and copied raw.
    let one = zip_of(&[("f", &vec![0u8; 15 * 1024 * 1024])]);
    let mut src = zip::ZipArchive::new(Cursor::new(one)).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("shop.gbdialog/start.bas", SimpleFileOptions::default())
        .unwrap();
    w.write_all(START).unwrap();
    let copies = MAX_TOTAL_BYTES / (15 * 1024 * 1024) + 1;
    for i in 0..copies {
        w.raw_copy_file_rename(src.by_index(0).unwrap(), format!("shop.gbkb/docs/{i}.txt"))
            .unwrap();
    }
    let archive = w.finish().unwrap().into_inner();
    let (dest, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(too_large(r).contains("inflates beyond"));
    let written: u64 = files(&dest).iter().map(|(_, l)| l).sum();
    assert!(written <= MAX_TOTAL_BYTES, "{written}");
}

#[test]
fn too_many_entries_are_refused_before_reading_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = vec![("shop.gbdialog/start.bas".to_string(), START.to_vec())];
    for i in 0..MAX_ENTRIES {
        entries.push((format!("shop.gbkb/k/{i}.txt"), vec![b'x']));
    }
    let archive = write_zip(&entries).unwrap();
    let (dest, r) = extract_in(tmp.path(), "shop", &archive);
    assert!(too_large(r).contains("more than 2000 entries"));
    assert!(!dest.exists(), "refused before writing anything");

    // Exactly at the limit is fine.
    entries.pop();
    let archive = write_zip(&entries).unwrap();
    let (_, r) = extract_in(tmp.path(), "shop", &archive);
    assert_eq!(r.unwrap().files, MAX_ENTRIES);
}

#[test]
fn secrets_are_blanked_on_export_and_kept_on_upload() {
    let config = "name,value\n# keys\nllm-key,sk-live-123\nllm-model,gpt-x\r\nEmail-Pass , \"hunter2\"\nbot-name,Shop\n";
    let blanked = blank_secrets(config);
    assert_eq!(
        blanked,
        "name,value\n# keys\nllm-key,\nllm-model,gpt-x\r\nEmail-Pass ,\nbot-name,Shop\n"
    );
    assert!(!blanked.contains("sk-live") && !blanked.contains("hunter2"));
    // Uploading the blanked file again keeps the server's secrets; other edits win.
    let edited = blanked.replace("gpt-x", "gpt-y");
    assert_eq!(keep_secrets(&edited, config), config.replace("gpt-x", "gpt-y"));
    // A secret given in the upload wins; a dropped line stays dropped.
    assert_eq!(
        keep_secrets("llm-key,sk-new\n", config),
        "llm-key,sk-new\n",
        "a value given wins"
    );

    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("shop.gbai");
    std::fs::create_dir_all(pkg.join("shop.gbdialog")).unwrap();
    std::fs::create_dir_all(pkg.join("shop.gbot")).unwrap();
    std::fs::write(pkg.join("shop.gbdialog/start.bas"), START).unwrap();
    std::fs::write(pkg.join("shop.gbot/config.csv"), config).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", pkg.join("shop.gbdialog/passwd.bas")).unwrap();
    let archive = export_dir("shop", &pkg).unwrap();
    let (dest, r) = extract_in(tmp.path(), "shop", &archive);
    r.unwrap();
    assert_eq!(
        files(&dest).iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["shop.gbdialog/start.bas", "shop.gbot/config.csv"],
        "links are left out"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("shop.gbot/config.csv")).unwrap(),
        blanked
    );

    // The built-in default bot has no folder: exported from memory, secrets blanked too.
    let mut default = botserver_auto::watch::builtin_default();
    default.config.insert("llm-key".into(), "sk-default".into());
    let archive = export_package(&default).unwrap();
    let (dest, r) = extract_in(tmp.path(), "default", &archive);
    r.unwrap();
    assert!(dest.join("default.gbdialog/start.bas").is_file());
    let cfg = std::fs::read_to_string(dest.join("default.gbot/config.csv")).unwrap();
    assert!(cfg.contains("llm-key,\n") && !cfg.contains("sk-default"), "{cfg}");
    assert!(cfg.contains("bot-name,Default bot"), "{cfg}");
}

#[test]
fn upload_export_upload_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let uploaded = zip_of(&[
        ("shop.gbai/shop.gbdialog/start.bas", START),
        (
            "shop.gbai/shop.gbdialog/tools/price.bas",
            b"PARAM item AS STRING\nRETURN 1\n",
        ),
        ("shop.gbai/shop.gbot/config.csv", b"bot-name,Shop\nllm-model,m\n"),
        ("shop.gbai/shop.gbkb/faq/a.md", b"# FAQ\n"),
        (
            "shop.gbai/shop.gbtheme/logo.png",
            &[0x89, b'P', b'N', b'G', 0, 1, 2],
        ),
    ]);
    let (first, r) = extract_in(tmp.path(), "shop", &uploaded);
    r.unwrap();
    let exported = export_dir("shop", &first).unwrap();
    let (second, r) = extract_in(tmp.path(), "shop", &exported);
    r.unwrap();
    assert_eq!(files(&first), files(&second));
    for (f, _) in files(&first) {
        assert_eq!(
            std::fs::read(first.join(&f)).unwrap(),
            std::fs::read(second.join(&f)).unwrap(),
            "{f}"
        );
    }
    // The folder loads as the loader reads it.
    let renamed = tmp.path().join("shop.gbai");
    std::fs::rename(&second, &renamed).unwrap();
    let pkg = botserver_auto::package::Package::load_dir(&renamed).unwrap();
    assert_eq!(pkg.name, "shop");
    assert_eq!(pkg.sources.len(), 2);
    assert!(pkg.errors.is_empty(), "{:?}", pkg.errors);
    assert_eq!(pkg.config["bot-name"], "Shop");
}

#[test]
fn openapi_documents_the_package_routes() {
    let doc = serde_json::to_value(botserver_auto::api::openapi()).unwrap();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/bots/{bot}/package", "put"),
        ("/api/bots/{bot}/package", "get"),
        ("/api/bots/{bot}/reload", "post"),
        ("/api/bots/{bot}", "delete"),
        ("/api/bots/{bot}/errors", "get"),
        ("/api/bots", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}: {paths}");
    }
    let put = &paths["/api/bots/{bot}/package"]["put"];
    assert!(
        put["requestBody"]["content"]["application/zip"].is_object(),
        "{put}"
    );
    assert!(put["responses"]["413"].is_object(), "{put}");
}
