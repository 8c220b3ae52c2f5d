//! A bounded tar reader, for the legacy PyTorch checkpoint (`torch.save` before 1.6 could
//! write a tar of pickles: `sys_info`, `pickle`, `tensors`, `storages`).
//!
//! Only what a scan needs: ustar/GNU headers with their checksum, regular files, and the
//! names and link targets that could escape a folder. Member data is read by the caller
//! through the offsets, within the limits.

use std::io::SeekFrom;

use crate::scan::{ReadSeek, finding};
use crate::zip::escapes;
use crate::{Finding, Limits, Location, Verdict};

crate::rules::declare! {
    HEADER = "tar.header":
        "An invalid tar header.";
    PATH_TRAVERSAL = "tar.path_traversal":
        "A tar member whose path escapes the folder it is extracted into.";
    LINK = "tar.link":
        "A tar member that is a link.";
    ENTRY_TYPE = "tar.entry_type":
        "A tar member of an entry type that is not read (it may rename what follows).";
    IO = "tar.io":
        "A tar member that cannot be read.";
}

/// One regular file in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub size: u64,
    pub data_offset: u64,
}

/// The regular files and what the headers alone show.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    pub members: Vec<Member>,
    pub findings: Vec<Finding>,
}

fn field(block: &[u8], from: usize, to: usize) -> &[u8] {
    let f = block.get(from..to).unwrap_or_default();
    let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
    f.get(..end).unwrap_or_default()
}

fn octal(block: &[u8], from: usize, to: usize) -> Option<u64> {
    let text = std::str::from_utf8(field(block, from, to)).ok()?;
    let text = text.trim_matches([' ', '\0']);
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// Walks the headers. `Err` is why the archive could not be read (inconclusive).
pub fn open(r: &mut dyn ReadSeek, len: u64, limits: &Limits) -> Result<Archive, Finding> {
    let mut archive = Archive::default();
    let mut at = 0u64;
    let fail = |message: String, at: u64| {
        finding(
            Verdict::Inconclusive,
            rule::HEADER.id,
            message,
            Location {
                member: None,
                offset: Some(at),
            },
        )
    };
    loop {
        if at + 512 > len {
            return Err(fail(
                "the archive ends without its end-of-archive blocks".into(),
                at,
            ));
        }
        let mut block = [0u8; 512];
        r.seek(SeekFrom::Start(at))
            .and_then(|_| r.read_exact(&mut block))
            .map_err(|e| fail(e.to_string(), at))?;
        if block.iter().all(|&b| b == 0) {
            return Ok(archive);
        }
        if archive.members.len() + archive.findings.len() >= limits.max_members {
            return Err(fail(
                format!("more than {} members", limits.max_members),
                at,
            ));
        }
        let stored = octal(&block, 148, 156)
            .ok_or_else(|| fail("the checksum is not a number".into(), at))?;
        let sum: u64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(fail("a header fails its checksum".into(), at));
        }
        let size = octal(&block, 124, 136)
            .ok_or_else(|| fail("a size is not an octal number".into(), at))?;
        let mut name = String::from_utf8_lossy(field(&block, 0, 100)).into_owned();
        if field(&block, 257, 262) == b"ustar" {
            let prefix = field(&block, 345, 500);
            if !prefix.is_empty() {
                name = format!("{}/{name}", String::from_utf8_lossy(prefix));
            }
        }
        let kind = block.get(156).copied().unwrap_or_default();
        let data_offset = at + 512;
        if data_offset.saturating_add(size) > len {
            return Err(fail(format!("`{name}` runs past the end of the file"), at));
        }
        let here = Location {
            member: Some(name.clone()),
            offset: Some(at),
        };
        if escapes(&name) {
            archive.findings.push(finding(
                Verdict::Dangerous,
                rule::PATH_TRAVERSAL.id,
                format!("`{name}` escapes the folder it is extracted into"),
                here.clone(),
            ));
        }
        match kind {
            b'0' | 0 | b'7' => archive.members.push(Member {
                name,
                size,
                data_offset,
            }),
            b'5' => {}
            b'1' | b'2' => {
                let target = String::from_utf8_lossy(field(&block, 157, 257)).into_owned();
                archive.findings.push(finding(
                    Verdict::Suspicious,
                    rule::LINK.id,
                    format!("`{name}` links to `{target}`"),
                    here,
                ));
            }
            other => archive.findings.push(finding(
                Verdict::Inconclusive,
                rule::ENTRY_TYPE.id,
                format!(
                    "`{name}` has entry type `{}`, which is not read (it may rename what follows)",
                    char::from(other)
                ),
                here,
            )),
        }
        at = data_offset + size.div_ceil(512) * 512;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    pub(crate) fn tar(members: &[(&str, u8, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, data) in members {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[156] = *kind;
            h[257..263].copy_from_slice(b"ustar\0");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn open_bytes(b: &[u8]) -> Result<Archive, Finding> {
        open(
            &mut Cursor::new(b.to_vec()),
            b.len() as u64,
            &Limits::default(),
        )
    }

    #[test]
    fn members_links_and_traversal() {
        let t = tar(&[
            ("pickle", b'0', b"\x80\x02."),
            ("d", b'5', b""),
            ("l", b'2', b""),
            ("../x", b'0', b"1"),
        ]);
        let a = open_bytes(&t).unwrap();
        let names: Vec<_> = a.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["pickle", "../x"]);
        let rules: Vec<_> = a.findings.iter().map(|e| e.rule.as_str()).collect();
        assert_eq!(rules, ["tar.link", "tar.path_traversal"]);
    }

    #[test]
    fn damaged_archives_are_inconclusive() {
        let t = tar(&[("pickle", b'0', b"data")]);
        let mut bad_sum = t.clone();
        bad_sum[0] = b'q';
        for bytes in [&t[..600], &bad_sum[..], &t[..512]] {
            assert_eq!(
                open_bytes(bytes).unwrap_err().verdict,
                Verdict::Inconclusive
            );
        }
    }

    /// A legacy PyTorch tar checkpoint through the whole scanner and the real pickle
    /// machine: the file is recognised by content and the pickle member is found.
    #[test]
    fn legacy_pytorch_tar_scans_its_pickles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.pt");
        std::fs::write(
            &path,
            tar(&[
                ("sys_info", b'0', b"\x80\x02}q\x00."),
                ("pickle", b'0', b"\x80\x02cposix\nsystem\nq\x00."),
            ]),
        )
        .unwrap();
        let r = crate::Scanner::new().scan_file(&path).unwrap();
        assert_eq!(
            (r.format.as_str(), r.verdict),
            ("pytorch-tar", Verdict::Dangerous)
        );
        assert!(
            r.findings
                .iter()
                .any(|e| e.location.member.as_deref() == Some("pickle"))
        );
    }
}
