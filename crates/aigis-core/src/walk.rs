//! The one directory walker: every folder aigis reads (a folder of tables, a dataset
//! under a manifest, a model to scan, sign or register) is listed here, and each caller
//! says what a symbolic link means to it with a [`LinkPolicy`]. This is the one module of
//! `aigis-core` that touches the file system.
//!
//! The engine is the `walkdir` crate (the one under ripgrep's `ignore::WalkBuilder`,
//! whose `follow_links` and `max_depth` are the model); what is aigis's own is the policy
//! on top: which links are refused, listed or followed, the check that a followed link
//! stays inside the root, hidden and skipped names (pruned before any policy applies, so
//! an ignored link is never an error), and the order. There is no `same_file_system`:
//! no caller needs it, and walkdir does not open a folder on another file system, which
//! the pruning here (`skip_current_dir` after a folder is listed) relies on.
//!
//! - Entries come out sorted by their path relative to the root, byte by byte (the order
//!   of `/`-joined names that manifests and listings use), whatever the file system's.
//! - The root itself is the first entry (its relative path is empty). A root that is a
//!   link is judged by the policy like any other link, except that the following policies
//!   follow it wherever it points: the caller named it.
//! - Folders are listed and entered; a folder at [`Walk::max_depth`] is listed and not
//!   entered ([`Entry::entered`] is false).
//! - Devices, pipes and sockets are listed as [`Kind::Special`], never opened.
//! - An error names the path it is about.
//!
//! ```
//! use aigis_core::walk::{Kind, LinkPolicy, Walk};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("sub"))?;
//! std::fs::write(dir.path().join("sub/b.csv"), "x\n1\n")?;
//! std::fs::write(dir.path().join("a.csv"), "x\n2\n")?;
//! let files: Vec<_> = Walk::new(dir.path(), LinkPolicy::Refuse)
//!     .run()?
//!     .into_iter()
//!     .filter(|e| e.kind == Kind::File)
//!     .map(|e| e.relative)
//!     .collect();
//! assert_eq!(files, [std::path::Path::new("a.csv"), std::path::Path::new("sub/b.csv")]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::path::{Path, PathBuf};

/// What a walk does with a symbolic link below the root (for the root, see the module
/// docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPolicy {
    /// A link is an error ([`Error::Link`]): for what is hashed, signed or stored, where
    /// a link could point anywhere and change later.
    Refuse,
    /// A link is listed as [`Kind::Link`] and not followed: for scanners, which must
    /// tell the user about it.
    Report,
    /// A link whose target (every link on the way resolved) lies inside the root is
    /// followed, as the file or folder it leads to, under the link's own name. One that
    /// leads out, or nowhere, is never followed: `outside` says whether that is an error
    /// ([`Error::Escapes`], [`Error::Dangling`]) or a [`Kind::Link`] entry. A link back
    /// to a folder it lies in is [`Error::Loop`].
    FollowInsideRoot {
        /// What a link out of the root (or a broken one) is.
        outside: Outside,
    },
    /// A link to a file is read as that file, wherever it points; a link to a folder is
    /// listed ([`Kind::Dir`], not entered); a broken link is [`Error::Dangling`]. Only
    /// for OpenSSF model-signing's `--allow-symlinks`, whose signatures must list the
    /// same files as the reference implementation's (`glob("**/*")`).
    FollowFileLinks,
}

/// What [`LinkPolicy::FollowInsideRoot`] does with a link that leads out of the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// An error.
    Refuse,
    /// A [`Kind::Link`] entry, not followed.
    Report,
}

/// What an entry is (after following a link, when the policy followed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    /// A symbolic link, not followed (its target is [`Entry::link`]).
    Link,
    /// A device, pipe or socket: listed, never opened.
    Special,
}

/// One thing found by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it was found: the root joined with `relative` (for a followed link, the
    /// link's path, which reading goes through).
    pub path: PathBuf,
    /// Relative to the root; empty for the root itself.
    pub relative: PathBuf,
    /// 0 for the root, 1 for what it holds, and so on.
    pub depth: usize,
    pub kind: Kind,
    /// Bytes of a file (of the file a followed link leads to); 0 for anything else.
    pub len: u64,
    /// Whether a folder's contents were walked (false at the depth limit, and for a link
    /// to a folder under [`LinkPolicy::FollowFileLinks`]).
    pub entered: bool,
    /// When the entry's own name is a symbolic link: what the link says (`read_link`).
    pub link: Option<PathBuf>,
}

/// Why a walk stopped. Each names the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A link under [`LinkPolicy::Refuse`].
    #[error("`{}` is a symbolic link (to `{}`), and links are not followed here", path.display(), target.display())]
    Link { path: PathBuf, target: PathBuf },
    /// A link out of the root under [`LinkPolicy::FollowInsideRoot`].
    #[error("`{}` is a symbolic link to `{}`, outside `{}`: links are followed only inside it", path.display(), target.display(), root.display())]
    Escapes {
        path: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
    /// A link back to a folder it lies in.
    #[error("`{}` is a symbolic link loop: it leads back to `{}`", path.display(), ancestor.display())]
    Loop { path: PathBuf, ancestor: PathBuf },
    /// A link to nothing, under a policy that follows links.
    #[error("`{}` is a broken symbolic link (to `{}`)", path.display(), target.display())]
    Dangling { path: PathBuf, target: PathBuf },
}

/// The bytes of the files under `path` (links not followed), to size a progress bar
/// only: 0 when the walk fails, since the work that follows then says why.
pub fn bytes_under(path: &Path) -> u64 {
    Walk::new(path, LinkPolicy::Report).run().map_or(0, |all| {
        all.iter()
            .filter(|e| e.kind == Kind::File)
            .map(|e| e.len)
            .sum()
    })
}

impl Error {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Link { path, .. }
            | Self::Escapes { path, .. }
            | Self::Loop { path, .. }
            | Self::Dangling { path, .. } => path,
        }
    }

    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

type Skip<'a> = Box<dyn Fn(&Path) -> bool + 'a>;

/// A walk of one root, configured then [`run`](Walk::run).
pub struct Walk<'a> {
    root: PathBuf,
    links: LinkPolicy,
    max_depth: Option<usize>,
    skip_hidden: bool,
    skip: Option<Skip<'a>>,
}

impl std::fmt::Debug for Walk<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walk")
            .field("root", &self.root)
            .field("links", &self.links)
            .field("max_depth", &self.max_depth)
            .field("skip_hidden", &self.skip_hidden)
            .field("skip", &self.skip.is_some())
            .finish()
    }
}

impl<'a> Walk<'a> {
    /// A walk of `root` (a folder, or a single file) with the link policy `links`. By
    /// default: no depth limit, hidden names included.
    pub fn new(root: impl Into<PathBuf>, links: LinkPolicy) -> Self {
        Self {
            root: root.into(),
            links,
            max_depth: None,
            skip_hidden: false,
            skip: None,
        }
    }

    /// Lists nothing deeper than `depth` (the root is depth 0); a folder at `depth` is
    /// listed and not entered.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// Leaves out names below the root that start with `.` (and all under them).
    pub fn skip_hidden(mut self, yes: bool) -> Self {
        self.skip_hidden = yes;
        self
    }

    /// Leaves out every entry below the root whose relative path `skip` accepts (and all
    /// under it), before the link policy looks at it.
    pub fn skip(mut self, skip: impl Fn(&Path) -> bool + 'a) -> Self {
        self.skip = Some(Box::new(skip));
        self
    }

    fn skipped(&self, relative: &Path) -> bool {
        let hidden = self.skip_hidden
            && relative
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
        hidden || self.skip.as_ref().is_some_and(|s| s(relative))
    }

    fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map_or_else(|_| path.to_owned(), Path::to_owned)
    }

    /// Walks, and returns every entry sorted by relative path (byte order).
    pub fn run(self) -> Result<Vec<Entry>, Error> {
        let root_meta = fs::symlink_metadata(&self.root).map_err(|e| Error::io(&self.root, e))?;
        if root_meta.file_type().is_symlink() {
            let target = fs::read_link(&self.root).unwrap_or_default();
            match self.links {
                LinkPolicy::Refuse => {
                    return Err(Error::Link {
                        path: self.root,
                        target,
                    });
                }
                LinkPolicy::Report => {
                    return Ok(vec![Entry {
                        path: self.root,
                        relative: PathBuf::new(),
                        depth: 0,
                        kind: Kind::Link,
                        len: 0,
                        entered: false,
                        link: Some(target),
                    }]);
                }
                LinkPolicy::FollowInsideRoot { .. } | LinkPolicy::FollowFileLinks => {}
            }
        }
        // INVARIANT: only the following policies follow links below the root; the root
        // was handled above for the others.
        let follow = matches!(
            self.links,
            LinkPolicy::FollowInsideRoot { .. } | LinkPolicy::FollowFileLinks
        );
        let mut walker = walkdir::WalkDir::new(&self.root)
            .follow_links(follow)
            .follow_root_links(true);
        if let Some(depth) = self.max_depth {
            walker = walker.max_depth(depth);
        }
        let mut out = Vec::new();
        let mut it = walker.into_iter();
        while let Some(next) = it.next() {
            let entry = match next {
                Ok(entry) => entry,
                Err(e) => {
                    if let Some(found) = self.walk_error(e)? {
                        out.push(found);
                    }
                    continue;
                }
            };
            let path = entry.path();
            let depth = entry.depth();
            let relative = self.relative(path);
            let ty = entry.file_type();
            if depth > 0 && self.skipped(&relative) {
                if ty.is_dir() {
                    it.skip_current_dir();
                }
                continue;
            }
            let mut link = None;
            if depth > 0 && entry.path_is_symlink() {
                let target = fs::read_link(path).unwrap_or_default();
                let listed = |kind| Entry {
                    path: path.to_owned(),
                    relative: relative.clone(),
                    depth,
                    kind,
                    len: 0,
                    entered: false,
                    link: Some(target.clone()),
                };
                match self.links {
                    LinkPolicy::Refuse => {
                        return Err(Error::Link {
                            path: path.to_owned(),
                            target,
                        });
                    }
                    LinkPolicy::Report => {
                        out.push(listed(Kind::Link));
                        continue;
                    }
                    LinkPolicy::FollowInsideRoot { outside } => {
                        if !self.leads_inside(path)? {
                            if ty.is_dir() {
                                it.skip_current_dir();
                            }
                            match outside {
                                Outside::Refuse => {
                                    return Err(Error::Escapes {
                                        path: path.to_owned(),
                                        target,
                                        root: self.root.clone(),
                                    });
                                }
                                Outside::Report => {
                                    out.push(listed(Kind::Link));
                                    continue;
                                }
                            }
                        }
                    }
                    LinkPolicy::FollowFileLinks => {
                        if ty.is_dir() {
                            it.skip_current_dir();
                            out.push(listed(Kind::Dir));
                            continue;
                        }
                    }
                }
                link = Some(target);
            }
            let kind = if ty.is_dir() {
                Kind::Dir
            } else if ty.is_file() {
                Kind::File
            } else {
                Kind::Special
            };
            let len = if kind == Kind::File {
                // Through a followed link this is the target's size.
                entry.metadata().map_err(|e| walk_io(e, path))?.len()
            } else {
                0
            };
            out.push(Entry {
                path: path.to_owned(),
                relative,
                depth,
                kind,
                len,
                entered: kind == Kind::Dir && self.max_depth.is_none_or(|m| depth < m),
                link,
            });
        }
        out.sort_by(|a, b| {
            a.relative
                .as_os_str()
                .as_encoded_bytes()
                .cmp(b.relative.as_os_str().as_encoded_bytes())
        });
        Ok(out)
    }

    /// Whether the link `path` leads (every link on the way resolved) to a place inside
    /// the root; `false` when it leads nowhere.
    fn leads_inside(&self, path: &Path) -> Result<bool, Error> {
        let root = fs::canonicalize(&self.root).map_err(|e| Error::io(&self.root, e))?;
        Ok(fs::canonicalize(path).is_ok_and(|t| t.starts_with(root)))
    }

    /// What an error of the engine means under the policy: an error, an entry to list,
    /// or nothing (a skipped path).
    fn walk_error(&self, e: walkdir::Error) -> Result<Option<Entry>, Error> {
        let depth = e.depth();
        let path = e.path().unwrap_or(&self.root).to_owned();
        let relative = self.relative(&path);
        if depth > 0 && self.skipped(&relative) {
            return Ok(None);
        }
        let link = || fs::read_link(&path).unwrap_or_default();
        let listed = |kind| Entry {
            path: path.clone(),
            relative: relative.clone(),
            depth,
            kind,
            len: 0,
            entered: false,
            link: Some(link()),
        };
        if let Some(ancestor) = e.loop_ancestor() {
            match self.links {
                // model-signing does not enter a link to a folder, so there is no loop.
                LinkPolicy::FollowFileLinks => return Ok(Some(listed(Kind::Dir))),
                // A link to a folder that holds the root leads out before it loops.
                LinkPolicy::FollowInsideRoot { outside } if !self.leads_inside(&path)? => {
                    return match outside {
                        Outside::Refuse => Err(Error::Escapes {
                            target: link(),
                            path,
                            root: self.root.clone(),
                        }),
                        Outside::Report => Ok(Some(listed(Kind::Link))),
                    };
                }
                _ => {}
            }
            return Err(Error::Loop {
                ancestor: ancestor.to_owned(),
                path,
            });
        }
        // A link that the engine failed to follow: it leads nowhere (or to a place that
        // cannot be looked at).
        let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if depth > 0 && is_link {
            if self.links
                == (LinkPolicy::FollowInsideRoot {
                    outside: Outside::Report,
                })
            {
                return Ok(Some(listed(Kind::Link)));
            }
            return Err(Error::Dangling {
                target: link(),
                path,
            });
        }
        Err(walk_io(e, &path))
    }
}

fn walk_io(e: walkdir::Error, path: &Path) -> Error {
    let path = e.path().unwrap_or(path).to_owned();
    let source = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("the walk failed"));
    Error::Io { path, source }
}

#[cfg(test)]
mod tests;
