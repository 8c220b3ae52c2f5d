use std::path::Path;

use super::*;

fn names(entries: &[Entry], kind: Kind) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.relative.to_string_lossy().into_owned())
        .collect()
}

fn all(entries: &[Entry]) -> Vec<(String, Kind)> {
    entries
        .iter()
        .map(|e| (e.relative.to_string_lossy().into_owned(), e.kind))
        .collect()
}

/// root/
///   a.csv            "aa"
///   a/b/c.csv        "ccc"
///   .hidden/x        "x"
///   z                "zzzz"
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("a/b")).unwrap();
    std::fs::create_dir_all(p.join(".hidden")).unwrap();
    std::fs::write(p.join("a.csv"), b"aa").unwrap();
    std::fs::write(p.join("a/b/c.csv"), b"ccc").unwrap();
    std::fs::write(p.join(".hidden/x"), b"x").unwrap();
    std::fs::write(p.join("z"), b"zzzz").unwrap();
    dir
}

#[test]
fn nested_folders_come_out_sorted_by_path_bytes() {
    let dir = tree();
    let entries = Walk::new(dir.path(), LinkPolicy::Refuse).run().unwrap();
    assert_eq!(
        all(&entries),
        [
            (String::new(), Kind::Dir),
            (".hidden".into(), Kind::Dir),
            (".hidden/x".into(), Kind::File),
            ("a".into(), Kind::Dir),
            // `.` (0x2e) sorts before `/` (0x2f): byte order, not component order
            ("a.csv".into(), Kind::File),
            ("a/b".into(), Kind::Dir),
            ("a/b/c.csv".into(), Kind::File),
            ("z".into(), Kind::File),
        ]
    );
    let root = entries.first().unwrap();
    assert_eq!((root.depth, root.path.as_path()), (0, dir.path()));
    let c = entries
        .iter()
        .find(|e| e.relative == Path::new("a/b/c.csv"));
    let c = c.unwrap();
    assert_eq!(
        (c.depth, c.len, c.path.clone()),
        (3, 3, dir.path().join("a/b/c.csv"))
    );
    assert!(
        entries
            .iter()
            .filter(|e| e.kind == Kind::Dir)
            .all(|e| e.entered)
    );
}

#[test]
fn a_file_root_is_the_one_entry() {
    let dir = tree();
    let entries = Walk::new(dir.path().join("z"), LinkPolicy::Refuse)
        .run()
        .unwrap();
    assert_eq!(all(&entries), [(String::new(), Kind::File)]);
    assert_eq!(entries.first().unwrap().len, 4);
    let missing = Walk::new(dir.path().join("nope"), LinkPolicy::Refuse)
        .run()
        .unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
    assert!(missing.to_string().contains("nope"), "{missing}");
}

#[test]
fn hidden_and_skipped_names_are_pruned_with_all_under_them() {
    let dir = tree();
    let entries = Walk::new(dir.path(), LinkPolicy::Refuse)
        .skip_hidden(true)
        .skip(|rel| rel == Path::new("a/b"))
        .run()
        .unwrap();
    assert_eq!(names(&entries, Kind::File), ["a.csv", "z"]);
    // The root is never hidden, whatever its name.
    let dot = Walk::new(dir.path().join(".hidden"), LinkPolicy::Refuse)
        .skip_hidden(true)
        .run()
        .unwrap();
    assert_eq!(names(&dot, Kind::File), ["x"]);
}

#[test]
fn max_depth_lists_the_folder_at_the_limit_without_entering_it() {
    let dir = tree();
    let entries = Walk::new(dir.path(), LinkPolicy::Refuse)
        .max_depth(1)
        .run()
        .unwrap();
    assert_eq!(names(&entries, Kind::File), ["a.csv", "z"]);
    let a = entries
        .iter()
        .find(|e| e.relative == Path::new("a"))
        .unwrap();
    assert!(!a.entered);
    let root_only = Walk::new(dir.path(), LinkPolicy::Refuse)
        .max_depth(0)
        .run()
        .unwrap();
    assert_eq!(root_only.len(), 1);
    assert!(!root_only.first().unwrap().entered);
}

#[cfg(unix)]
mod links {
    use std::os::unix::fs::symlink;

    use super::*;

    /// `tree()` plus, under `root`, a link to a file inside, a link to a folder inside, a
    /// link to a file outside and a link to a folder outside.
    fn linked() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(dir.path().join("out/d")).unwrap();
        std::fs::write(root.join("a/b/c.csv"), b"ccc").unwrap();
        std::fs::write(dir.path().join("out/secret"), b"s3cret").unwrap();
        std::fs::write(dir.path().join("out/d/f"), b"f").unwrap();
        symlink("a/b/c.csv", root.join("in_file")).unwrap();
        symlink("a", root.join("in_dir")).unwrap();
        (dir, root)
    }

    fn with_escapes(root: &Path) {
        symlink("../out/secret", root.join("out_file")).unwrap();
        symlink("../out/d", root.join("out_dir")).unwrap();
    }

    #[test]
    fn refuse_makes_any_link_an_error_naming_it() {
        let (_dir, root) = linked();
        let e = Walk::new(&root, LinkPolicy::Refuse).run().unwrap_err();
        let Error::Link { path, target } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(path, &root.join("in_dir"));
        assert_eq!(target, Path::new("a"));
        assert!(e.to_string().contains("in_dir"), "{e}");
        // A skipped link is no error.
        let ok = Walk::new(&root, LinkPolicy::Refuse)
            .skip(|rel| rel.to_string_lossy().starts_with("in_"))
            .run()
            .unwrap();
        assert_eq!(names(&ok, Kind::File), ["a/b/c.csv"]);
        // A root that is a link is judged too.
        let e = Walk::new(root.join("in_file"), LinkPolicy::Refuse)
            .run()
            .unwrap_err();
        assert!(matches!(e, Error::Link { .. }), "{e:?}");
    }

    #[test]
    fn report_lists_links_without_following_them() {
        let (_dir, root) = linked();
        with_escapes(&root);
        symlink("nowhere", root.join("dangling")).unwrap();
        symlink(".", root.join("a/loop")).unwrap();
        let entries = Walk::new(&root, LinkPolicy::Report).run().unwrap();
        assert_eq!(
            names(&entries, Kind::Link),
            [
                "a/loop", "dangling", "in_dir", "in_file", "out_dir", "out_file"
            ]
        );
        assert_eq!(names(&entries, Kind::File), ["a/b/c.csv"]);
        let out = entries.iter().find(|e| e.relative == Path::new("out_file"));
        assert_eq!(
            out.unwrap().link.as_deref(),
            Some(Path::new("../out/secret"))
        );
        let root_link = Walk::new(root.join("in_dir"), LinkPolicy::Report)
            .run()
            .unwrap();
        assert_eq!(all(&root_link), [(String::new(), Kind::Link)]);
    }

    #[test]
    fn follow_inside_root_follows_links_that_stay_inside() {
        let (_dir, root) = linked();
        let policy = LinkPolicy::FollowInsideRoot {
            outside: Outside::Refuse,
        };
        let entries = Walk::new(&root, policy).run().unwrap();
        assert_eq!(
            names(&entries, Kind::File),
            ["a/b/c.csv", "in_dir/b/c.csv", "in_file"]
        );
        let f = entries.iter().find(|e| e.relative == Path::new("in_file"));
        let f = f.unwrap();
        assert_eq!(
            (f.len, f.link.as_deref()),
            (3, Some(Path::new("a/b/c.csv")))
        );
        assert_eq!(f.path, root.join("in_file"));
        // A root that is a link is followed: the caller named it.
        let through = Walk::new(root.join("in_dir"), policy).run().unwrap();
        assert_eq!(names(&through, Kind::File), ["b/c.csv"]);
    }

    #[test]
    fn follow_inside_root_never_follows_a_link_out() {
        for (name, target) in [("out_file", "../out/secret"), ("out_dir", "../out/d")] {
            let (_dir, root) = linked();
            symlink(target, root.join(name)).unwrap();
            let refuse = LinkPolicy::FollowInsideRoot {
                outside: Outside::Refuse,
            };
            let e = Walk::new(&root, refuse).run().unwrap_err();
            assert!(
                matches!(&e, Error::Escapes { path, .. } if path == &root.join(name)),
                "{e:?}"
            );
            assert!(e.to_string().contains("outside"), "{e}");
            let report = LinkPolicy::FollowInsideRoot {
                outside: Outside::Report,
            };
            let entries = Walk::new(&root, report).run().unwrap();
            assert_eq!(names(&entries, Kind::Link), [name]);
            assert!(
                entries
                    .iter()
                    .all(|e| !e.path.starts_with(root.join(name)) || e.relative == Path::new(name)),
                "nothing under the link is listed: {entries:?}"
            );
        }
    }

    #[test]
    fn a_link_that_climbs_out_through_an_inside_link_is_outside() {
        let (_dir, root) = linked();
        // in_dir -> a; a/up -> .. (root); a/up2 -> ../.. (out of root)
        symlink("../..", root.join("a/up2")).unwrap();
        let refuse = LinkPolicy::FollowInsideRoot {
            outside: Outside::Refuse,
        };
        let e = Walk::new(&root, refuse).run().unwrap_err();
        assert!(matches!(e, Error::Escapes { .. }), "{e:?}");
    }

    #[test]
    fn a_link_loop_is_an_error_when_followed_and_a_folder_link_for_model_signing() {
        let (_dir, root) = linked();
        symlink("..", root.join("a/b/up")).unwrap();
        for outside in [Outside::Refuse, Outside::Report] {
            let e = Walk::new(&root, LinkPolicy::FollowInsideRoot { outside })
                .run()
                .unwrap_err();
            assert!(
                matches!(&e, Error::Loop { path, .. } if path.ends_with("up")),
                "{e:?}"
            );
            assert!(e.to_string().contains("loop"), "{e}");
        }
        let entries = Walk::new(&root, LinkPolicy::FollowFileLinks).run().unwrap();
        assert_eq!(names(&entries, Kind::File), ["a/b/c.csv", "in_file"]);
        let up = entries.iter().find(|e| e.relative == Path::new("a/b/up"));
        assert!(up.is_some_and(|e| e.kind == Kind::Dir && !e.entered));
    }

    #[test]
    fn a_dangling_link_is_an_error_when_followed_and_listed_when_reported() {
        let (_dir, root) = linked();
        symlink("nowhere", root.join("dangling")).unwrap();
        for policy in [
            LinkPolicy::FollowInsideRoot {
                outside: Outside::Refuse,
            },
            LinkPolicy::FollowFileLinks,
        ] {
            let e = Walk::new(&root, policy).run().unwrap_err();
            assert!(
                matches!(&e, Error::Dangling { path, target }
                    if path == &root.join("dangling") && target == Path::new("nowhere")),
                "{policy:?}: {e:?}"
            );
            assert!(e.to_string().contains("broken symbolic link"), "{e}");
        }
        let report = LinkPolicy::FollowInsideRoot {
            outside: Outside::Report,
        };
        let entries = Walk::new(&root, report).run().unwrap();
        assert_eq!(names(&entries, Kind::Link), ["dangling"]);
        // Skipped, it is no error.
        let skipped = Walk::new(&root, LinkPolicy::FollowFileLinks)
            .skip(|rel| rel == Path::new("dangling"))
            .run();
        assert!(skipped.is_ok());
    }

    #[test]
    fn follow_file_links_reads_files_anywhere_and_enters_no_linked_folder() {
        let (_dir, root) = linked();
        with_escapes(&root);
        let entries = Walk::new(&root, LinkPolicy::FollowFileLinks).run().unwrap();
        assert_eq!(
            names(&entries, Kind::File),
            ["a/b/c.csv", "in_file", "out_file"]
        );
        let secret = entries.iter().find(|e| e.relative == Path::new("out_file"));
        assert_eq!(secret.unwrap().len, 6);
        let dirs: Vec<_> = entries
            .iter()
            .filter(|e| e.kind == Kind::Dir && !e.entered)
            .map(|e| e.relative.to_string_lossy().into_owned())
            .collect();
        assert_eq!(dirs, ["in_dir", "out_dir"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_is_listed_as_special_and_never_opened() {
        let (_dir, root) = linked();
        let fifo = root.join("pipe.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("mkfifo is not available here: skipped");
            return;
        }
        symlink("pipe.csv", root.join("to_pipe")).unwrap();
        // Opening a FIFO with no writer would block: the walk finishing proves it is not.
        let policy = LinkPolicy::FollowInsideRoot {
            outside: Outside::Refuse,
        };
        let entries = Walk::new(&root, policy).run().unwrap();
        assert_eq!(names(&entries, Kind::Special), ["pipe.csv", "to_pipe"]);
        let reported = Walk::new(&root, LinkPolicy::Report).run().unwrap();
        assert_eq!(names(&reported, Kind::Special), ["pipe.csv"]);
    }
}
