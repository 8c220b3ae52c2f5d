//! A bounded zip reader that shows what each loader would see.
//!
//! Hand-written rather than the `zip` crate: that crate resolves what we must report (it
//! picks one of two members with the same name, trusts the central directory over the
//! local headers, hides data before the archive and rejects some archives outright), and
//! a model zip needs only two methods, stored and deflate (`flate2`). Reading the central
//! directory and each local header ourselves lets every disagreement become evidence.
//!
//! Nothing here allocates a declared size: members are decompressed through a cap, and
//! the central directory is read only when it fits inside the file and the limits.

use std::collections::HashSet;
use std::io::{Read, SeekFrom};

use crate::scan::{ReadSeek, finding};
use crate::{Finding, Limits, Location, Verdict};

crate::rules::declare! {
    IO = "zip.io":
        "A zip archive that cannot be read.";
    NO_DIRECTORY = "zip.no_directory":
        "A zip archive with no end-of-central-directory record.";
    ZIP64 = "zip.zip64":
        "A zip archive whose zip64 records are missing or invalid.";
    ZIP64_MISMATCH = "zip.zip64_mismatch":
        "A zip archive whose end record and zip64 record disagree.";
    TOO_MANY_MEMBERS = "zip.too_many_members":
        "A zip archive with more members than the limit.";
    DIRECTORY_SIZE = "zip.directory_size":
        "A zip central directory larger than the file.";
    DIRECTORY_OFFSET = "zip.directory_offset":
        "A zip central directory offset past its end.";
    DIRECTORY = "zip.directory":
        "A zip central directory entry that is missing or cut short.";
    DUPLICATE_NAME = "zip.duplicate_name":
        "A zip member name that appears twice: loaders disagree about which one they read.";
    NAME_ENCODING = "zip.name_encoding":
        "A zip member name that is not valid UTF-8: tools may decode it differently.";
    PATH_TRAVERSAL = "zip.path_traversal":
        "A zip member whose path escapes the folder it is extracted into.";
    ENCRYPTED = "zip.encrypted":
        "A zip member with the encrypted flag set, which PyTorch's reader ignores.";
    FLAGS = "zip.flags":
        "A zip member with unusual flag bits.";
    COMPRESSION = "zip.compression":
        "A zip member compressed with a method that is not read.";
    SIZE_MISMATCH = "zip.size_mismatch":
        "A stored zip member whose two sizes differ.";
    LOCAL_HEADER = "zip.local_header":
        "A zip member with no local header where the central directory says.";
    HEADER_MISMATCH = "zip.header_mismatch":
        "A zip member whose local header and central directory entry differ: streaming and directory readers see different files.";
    TRUNCATED = "zip.truncated":
        "A zip member that runs past the end of the file.";
    OVERLAP = "zip.overlap":
        "Zip members that share bytes.";
    UNREADABLE = "zip.unreadable":
        "A zip member that cannot be read.";
    TOO_LARGE = "zip.too_large":
        "A zip member larger than the bytes left to read within the limits.";
    BOMB = "zip.bomb":
        "A zip member that expands past the ratio limit: a zip bomb.";
    CORRUPT = "zip.corrupt":
        "A zip member that does not decompress.";
    CRC = "zip.crc":
        "A zip member that fails its CRC check (corrupt, or altered after it was written); PyTorch's reader loads it anyway.";
    DEPTH = "zip.depth":
        "A zip inside archives nested past the limit: not analysed.";
}

const EOCD_SIG: &[u8] = b"PK\x05\x06";
const EOCD64_LOCATOR_SIG: &[u8] = b"PK\x06\x07";
const EOCD64_SIG: &[u8] = b"PK\x06\x06";
const CENTRAL_SIG: &[u8] = b"PK\x01\x02";
const LOCAL_SIG: &[u8] = b"PK\x03\x04";
/// Encrypted, the two deflate option bits, data descriptor, UTF-8 names.
const KNOWN_FLAGS: u16 = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0800;
/// Below this a high ratio is normal (a few bytes of zeros compress 100:1).
const RATIO_FLOOR: u64 = 1 << 20;

/// One member as the central directory declares it (checked against its local header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name, as the central directory gives it.
    pub name: String,
    /// The general-purpose flags.
    pub flags: u16,
    /// The compression method (0 stored, 8 deflate).
    pub method: u16,
    /// The CRC-32 the central directory declares.
    pub crc32: u32,
    /// Bytes stored.
    pub compressed_size: u64,
    /// Bytes once decompressed.
    pub size: u64,
    /// Where the local header starts.
    pub header_offset: u64,
    /// Where the member's bytes start; `None` when the local header is unusable.
    pub data_offset: Option<u64>,
}

impl Member {
    /// Whether the bytes can be read at all: stored or deflate, and a local header that
    /// was found. The "encrypted" flag does not stop it: PyTorch's reader ignores the
    /// flag and loads the bytes as they are, so they are analysed as they are (bytes
    /// that really are encrypted fail to decompress or to parse: inconclusive).
    pub fn readable(&self) -> bool {
        matches!(self.method, 0 | 8) && self.data_offset.is_some()
    }

    /// Whether it is a folder entry (a name ending in `/`, no bytes).
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/') && self.size == 0
    }
}

/// The parsed archive and what its structure alone shows.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    /// Every member, in central-directory order.
    pub members: Vec<Member>,
    /// What the structure shows (duplicates, traversal, header mismatches).
    pub findings: Vec<Finding>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut x = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        x.copy_from_slice(s);
    }
    u16::from_le_bytes(x)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        x.copy_from_slice(s);
    }
    u64::from_le_bytes(x)
}

fn read_at(r: &mut dyn ReadSeek, at: u64, n: usize) -> std::io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::new();
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn malformed(rule: &str, message: impl Into<String>, offset: Option<u64>) -> Finding {
    finding(
        Verdict::Inconclusive,
        rule,
        message,
        Location {
            member: None,
            offset,
        },
    )
}

/// The offset of the end-of-central-directory record, if the file ends like a zip (the
/// way Python's `zipfile.is_zipfile` and `torch.load` decide, whatever the first bytes).
pub fn find_eocd(r: &mut dyn ReadSeek, len: u64) -> std::io::Result<Option<u64>> {
    if len < 22 {
        return Ok(None);
    }
    let tail_len = len.min(22 + 65_535);
    let start = len - tail_len;
    let tail = read_at(r, start, tail_len as usize)?;
    let mut i = tail.len().saturating_sub(22);
    loop {
        if tail.get(i..i + 4) == Some(EOCD_SIG) {
            let comment = u16_at(&tail, i + 20) as usize;
            if i + 22 + comment <= tail.len() {
                return Ok(Some(start + i as u64));
            }
        }
        if i == 0 {
            return Ok(None);
        }
        i -= 1;
    }
}

/// Reads the central directory and every local header. `Err` is the evidence that the
/// archive could not be parsed (inconclusive).
pub fn open(r: &mut dyn ReadSeek, len: u64, limits: &Limits) -> Result<Archive, Finding> {
    let io =
        |e: std::io::Error| malformed(rule::IO.id, format!("cannot read the archive: {e}"), None);
    let eocd_at = find_eocd(r, len).map_err(io)?.ok_or_else(|| {
        malformed(
            rule::NO_DIRECTORY.id,
            "no end-of-central-directory record",
            None,
        )
    })?;
    let eocd = read_at(r, eocd_at, 22).map_err(io)?;
    let mut entries = u64::from(u16_at(&eocd, 10));
    let mut cd_size = u64::from(u32_at(&eocd, 12));
    let mut cd_offset = u64::from(u32_at(&eocd, 16));
    let mut cd_end = eocd_at;
    let mut zip64_differs = None;
    // ZIP64: a locator just before the EOCD names a record (between the directory and the
    // locator) whose values win, as in Python's `zipfile` and PyTorch's reader, whether or
    // not the EOCD's own fields are saturated. PyTorch writes one in every file.
    let loc = read_at(r, eocd_at.saturating_sub(20), 20).map_err(io)?;
    if eocd_at >= 20 && loc.get(..4) == Some(EOCD64_LOCATOR_SIG) {
        // where the record must be when nothing was prepended; else where the locator says
        let stated = u64_at(&loc, 8);
        let mut at = eocd_at.saturating_sub(20 + 56);
        let mut rec = read_at(r, at, 56).map_err(io)?;
        if rec.get(..4) != Some(EOCD64_SIG) {
            at = stated;
            rec = read_at(r, at, 56).map_err(io)?;
        }
        if rec.get(..4) != Some(EOCD64_SIG) || rec.len() < 56 || at >= eocd_at {
            return Err(malformed(
                rule::ZIP64.id,
                "the zip64 directory record is missing",
                Some(stated),
            ));
        }
        let (e64, size64, offset64) = (u64_at(&rec, 32), u64_at(&rec, 40), u64_at(&rec, 48));
        // a field the EOCD does not saturate must agree, or two readers see two archives
        if (entries != 0xFFFF && entries != e64)
            || (cd_size != 0xFFFF_FFFF && cd_size != size64)
            || (cd_offset != 0xFFFF_FFFF && cd_offset != offset64)
        {
            zip64_differs = Some((entries, cd_size, cd_offset));
        }
        (entries, cd_size, cd_offset, cd_end) = (e64, size64, offset64, at);
    }
    if entries > limits.max_members as u64 {
        return Err(malformed(
            rule::TOO_MANY_MEMBERS.id,
            format!(
                "{entries} members, more than the limit of {}",
                limits.max_members
            ),
            Some(eocd_at),
        ));
    }
    if cd_size > cd_end || cd_size > limits.max_header_bytes {
        return Err(malformed(
            rule::DIRECTORY_SIZE.id,
            format!("the central directory declares {cd_size} bytes, more than the file holds"),
            Some(eocd_at),
        ));
    }
    let mut archive = Archive::default();
    if let Some((e, size, offset)) = zip64_differs {
        archive.findings.push(finding(
            Verdict::Suspicious,
            rule::ZIP64_MISMATCH.id,
            format!(
                "the end record says {e} members, {size} directory bytes at {offset}, but its zip64 record says {entries}, {cd_size} at {cd_offset}: readers that ignore zip64 see another archive"
            ),
            Location {
                member: None,
                offset: Some(eocd_at),
            },
        ));
    }
    // Data before the archive (a self-extractor, or a pickle with a zip appended): the
    // directory sits later than it says, and loaders disagree about what the file is.
    let cd_at = cd_end - cd_size;
    let prefix = cd_at.checked_sub(cd_offset).ok_or_else(|| {
        malformed(
            rule::DIRECTORY_OFFSET.id,
            "the central directory offset is past its end",
            Some(eocd_at),
        )
    })?;
    let cd = read_at(r, cd_at, cd_size as usize).map_err(io)?;
    let mut pos = 0usize;
    let mut names = HashSet::new();
    for _ in 0..entries {
        if cd.get(pos..pos + 4) != Some(CENTRAL_SIG) || pos + 46 > cd.len() {
            return Err(malformed(
                rule::DIRECTORY.id,
                "a central directory entry is missing or cut short",
                Some(cd_at + pos as u64),
            ));
        }
        let name_len = u16_at(&cd, pos + 28) as usize;
        let extra_len = u16_at(&cd, pos + 30) as usize;
        let comment_len = u16_at(&cd, pos + 32) as usize;
        let name_bytes = cd.get(pos + 46..pos + 46 + name_len).ok_or_else(|| {
            malformed(
                rule::DIRECTORY.id,
                "a member name runs past the directory",
                Some(cd_at + pos as u64),
            )
        })?;
        let extra = cd
            .get(pos + 46 + name_len..pos + 46 + name_len + extra_len)
            .unwrap_or_default();
        let mut m = Member {
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            flags: u16_at(&cd, pos + 8),
            method: u16_at(&cd, pos + 10),
            crc32: u32_at(&cd, pos + 16),
            compressed_size: u64::from(u32_at(&cd, pos + 20)),
            size: u64::from(u32_at(&cd, pos + 24)),
            header_offset: u64::from(u32_at(&cd, pos + 42)),
            data_offset: None,
        };
        apply_zip64(&mut m, extra);
        m.header_offset = m.header_offset.saturating_add(prefix);
        pos += 46 + name_len + extra_len + comment_len;
        check_member(&m, name_bytes, &mut names, &mut archive.findings);
        m.data_offset = check_local(r, &m, name_bytes, len, &mut archive.findings);
        archive.members.push(m);
    }
    let first = archive
        .members
        .iter()
        .map(|m| m.header_offset)
        .min()
        .unwrap_or(cd_at);
    if first > 0 {
        archive.findings.push(finding(
            Verdict::Suspicious,
            crate::scan::rule::FORMAT_POLYGLOT.id,
            format!("{first} bytes before the first zip member: the file is something else too"),
            Location {
                member: None,
                offset: Some(0),
            },
        ));
    }
    check_overlaps(&archive.members, &mut archive.findings);
    Ok(archive)
}

/// The zip64 extended-information field replaces the 32-bit values that are all ones.
fn apply_zip64(m: &mut Member, mut extra: &[u8]) {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let size = u16_at(extra, 2) as usize;
        let body = extra.get(4..4 + size).unwrap_or_default();
        if id == 1 {
            let mut at = 0;
            for field in [&mut m.size, &mut m.compressed_size, &mut m.header_offset] {
                if *field == 0xFFFF_FFFF && at + 8 <= body.len() {
                    *field = u64_at(body, at);
                    at += 8;
                }
            }
        }
        extra = extra.get(4 + size..).unwrap_or_default();
    }
}

fn at_member(m: &Member) -> Location {
    Location {
        member: Some(m.name.clone()),
        offset: Some(m.header_offset),
    }
}

fn check_member(m: &Member, raw_name: &[u8], names: &mut HashSet<String>, out: &mut Vec<Finding>) {
    if !names.insert(m.name.clone()) {
        out.push(finding(
            Verdict::Suspicious,
            rule::DUPLICATE_NAME.id,
            format!(
                "`{}` appears twice: loaders disagree about which one they read",
                m.name
            ),
            at_member(m),
        ));
    }
    if std::str::from_utf8(raw_name).is_err() {
        out.push(finding(
            Verdict::Suspicious,
            rule::NAME_ENCODING.id,
            format!(
                "`{}` is not valid utf-8: tools may decode it differently",
                m.name
            ),
            at_member(m),
        ));
    }
    if escapes(&m.name) {
        out.push(finding(
            Verdict::Dangerous,
            rule::PATH_TRAVERSAL.id,
            format!("`{}` escapes the folder it is extracted into", m.name),
            at_member(m),
        ));
    }
    if m.flags & 1 != 0 {
        out.push(finding(
            Verdict::Inconclusive,
            rule::ENCRYPTED.id,
            format!(
                "`{}` has the encrypted flag set: zip tools ask for a password, PyTorch's reader ignores the flag and loads the bytes as they are (analysed as such)",
                m.name
            ),
            at_member(m),
        ));
    }
    if m.flags & !KNOWN_FLAGS != 0 {
        out.push(finding(
            Verdict::Suspicious,
            rule::FLAGS.id,
            format!(
                "`{}` sets unusual flag bits {:#06x}",
                m.name,
                m.flags & !KNOWN_FLAGS
            ),
            at_member(m),
        ));
    }
    if !matches!(m.method, 0 | 8) {
        out.push(finding(
            Verdict::Inconclusive,
            rule::COMPRESSION.id,
            format!(
                "`{}` uses compression method {}, which is not read",
                m.name, m.method
            ),
            at_member(m),
        ));
    }
    if m.method == 0 && m.compressed_size != m.size {
        out.push(finding(
            Verdict::Inconclusive,
            rule::SIZE_MISMATCH.id,
            format!("`{}` is stored but its two sizes differ", m.name),
            at_member(m),
        ));
    }
}

/// `../x`, `a/../../x`, `/etc/x`, `C:\x`, `\\server\x`: a path that lands outside the
/// extraction folder.
pub fn escapes(name: &str) -> bool {
    let bytes = name.as_bytes();
    let drive = bytes.get(1) == Some(&b':') && bytes.first().is_some_and(u8::is_ascii_alphabetic);
    name.starts_with('/')
        || name.starts_with('\\')
        || drive
        || name.split(['/', '\\']).any(|part| part == "..")
}

/// Finds the local header, compares it with the central entry, and returns where the
/// data starts (or `None` with evidence when the header is missing).
fn check_local(
    r: &mut dyn ReadSeek,
    m: &Member,
    raw_name: &[u8],
    len: u64,
    out: &mut Vec<Finding>,
) -> Option<u64> {
    let header = read_at(r, m.header_offset, 30).unwrap_or_default();
    if header.len() < 30 || header.get(..4) != Some(LOCAL_SIG) {
        out.push(finding(
            Verdict::Inconclusive,
            rule::LOCAL_HEADER.id,
            format!("`{}` has no local header where the directory says", m.name),
            at_member(m),
        ));
        return None;
    }
    let name_len = u16_at(&header, 26) as usize;
    let extra_len = u16_at(&header, 28) as usize;
    let local_name = read_at(r, m.header_offset + 30, name_len).unwrap_or_default();
    let flags = u16_at(&header, 6);
    let mut differs = Vec::new();
    if local_name != raw_name {
        differs.push(format!("name `{}`", String::from_utf8_lossy(&local_name)));
    }
    if u16_at(&header, 8) != m.method {
        differs.push("compression method".to_owned());
    }
    if flags & 8 == 0 {
        let (crc, csize, size) = (
            u32_at(&header, 14),
            u32_at(&header, 18),
            u32_at(&header, 22),
        );
        if crc != m.crc32 {
            differs.push("crc".to_owned());
        }
        if csize != 0xFFFF_FFFF && u64::from(csize) != m.compressed_size
            || size != 0xFFFF_FFFF && u64::from(size) != m.size
        {
            differs.push("sizes".to_owned());
        }
    }
    if !differs.is_empty() {
        out.push(finding(
            Verdict::Suspicious,
            rule::HEADER_MISMATCH.id,
            format!(
                "`{}`: the local header and the central directory differ ({}); streaming and \
                 directory readers see different files",
                m.name,
                differs.join(", ")
            ),
            at_member(m),
        ));
    }
    let data = m.header_offset + 30 + name_len as u64 + extra_len as u64;
    if data.saturating_add(m.compressed_size) > len {
        out.push(finding(
            Verdict::Inconclusive,
            rule::TRUNCATED.id,
            format!("`{}` runs past the end of the file", m.name),
            at_member(m),
        ));
        return None;
    }
    Some(data)
}

/// Members whose bytes overlap (the "overlapping files" zip bomb, or two names for one
/// payload).
fn check_overlaps(members: &[Member], out: &mut Vec<Finding>) {
    let mut spans: Vec<(u64, u64, &str)> = members
        .iter()
        .filter_map(|m| {
            Some((
                m.header_offset,
                m.data_offset?.saturating_add(m.compressed_size),
                m.name.as_str(),
            ))
        })
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if let [(_, end, a), (start, _, b)] = pair
            && start < end
        {
            out.push(finding(
                Verdict::Suspicious,
                rule::OVERLAP.id,
                format!("`{a}` and `{b}` share bytes"),
                Location {
                    member: Some((*b).to_owned()),
                    offset: Some(*start),
                },
            ));
        }
    }
}

/// A member's bytes, and a CRC that does not match them: loaders that do not check it
/// (PyTorch's reader) load the bytes all the same, so they are analysed and the mismatch
/// is reported beside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberData {
    /// The member's bytes, decompressed.
    pub bytes: Vec<u8>,
    /// The evidence of a CRC-32 that does not match them.
    pub crc_mismatch: Option<Finding>,
}

/// Decompresses one member within the limits, counting it against `budget` (the bytes
/// left for the whole archive), and checks its size and CRC. `Err` is why it could not
/// be read (inconclusive).
pub fn read(
    r: &mut dyn ReadSeek,
    m: &Member,
    limits: &Limits,
    budget: &mut u64,
) -> Result<MemberData, Finding> {
    let fail =
        |rule: &str, message: String| finding(Verdict::Inconclusive, rule, message, at_member(m));
    let Some(data) = m.data_offset.filter(|_| m.readable()) else {
        return Err(fail(
            rule::UNREADABLE.id,
            format!("`{}` cannot be read", m.name),
        ));
    };
    let cap = limits.max_member_bytes.min(*budget);
    if m.size > cap {
        return Err(fail(
            rule::TOO_LARGE.id,
            format!(
                "`{}` declares {} bytes, more than the {cap} left to read",
                m.name, m.size
            ),
        ));
    }
    let bomb = |size: u64| size > RATIO_FLOOR && size / m.compressed_size.max(1) > limits.max_ratio;
    if bomb(m.size) {
        return Err(fail(
            rule::BOMB.id,
            format!("`{}` would expand more than {}:1", m.name, limits.max_ratio),
        ));
    }
    r.seek(SeekFrom::Start(data))
        .map_err(|e| fail(rule::IO.id, format!("`{}`: {e}", m.name)))?;
    let raw = r.take(m.compressed_size);
    let mut out = Vec::new();
    let read = if m.method == 8 {
        flate2::read::DeflateDecoder::new(raw)
            .take(cap + 1)
            .read_to_end(&mut out)
    } else {
        raw.take(cap + 1).read_to_end(&mut out)
    };
    read.map_err(|e| {
        fail(
            rule::CORRUPT.id,
            format!("`{}` does not decompress: {e}", m.name),
        )
    })?;
    let got = out.len() as u64;
    if got > cap || bomb(got) {
        return Err(fail(
            rule::BOMB.id,
            format!("`{}` expands past its declared size and the limits", m.name),
        ));
    }
    if got != m.size {
        return Err(fail(
            rule::SIZE_MISMATCH.id,
            format!(
                "`{}` decompresses to {got} bytes, not the {} declared",
                m.name, m.size
            ),
        ));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    let crc_mismatch = (crc.sum() != m.crc32).then(|| {
        fail(
            rule::CRC.id,
            format!(
                "`{}` fails its crc check (corrupt, or altered after it was written); PyTorch's reader does not check it and loads the bytes, so they are analysed",
                m.name
            ),
        )
    });
    *budget = budget.saturating_sub(got);
    Ok(MemberData {
        bytes: out,
        crc_mismatch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// One member of a hand-built archive, with the knobs the tricks need.
    struct M {
        name: &'static str,
        data: Vec<u8>,
        deflate: bool,
        flags: u16,
        method: Option<u16>,
        local_name: Option<&'static str>,
        crc_xor: u32,
    }

    fn m(name: &'static str, data: &[u8]) -> M {
        M {
            name,
            data: data.to_vec(),
            deflate: false,
            flags: 0,
            method: None,
            local_name: None,
            crc_xor: 0,
        }
    }

    fn build(prefix: &[u8], members: &[M]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        let mut central = Vec::new();
        for x in members {
            let body = if x.deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(&x.data).unwrap();
                e.finish().unwrap()
            } else {
                x.data.clone()
            };
            let mut crc = flate2::Crc::new();
            crc.update(&x.data);
            let crc = crc.sum() ^ x.crc_xor;
            let method = x.method.unwrap_or(if x.deflate { 8 } else { 0 });
            let offset = (out.len() - prefix.len()) as u32;
            let fixed = |sig: &[u8], name: &[u8]| {
                let mut h = sig.to_vec();
                h.extend_from_slice(&20u16.to_le_bytes());
                h.extend_from_slice(&x.flags.to_le_bytes());
                h.extend_from_slice(&method.to_le_bytes());
                h.extend_from_slice(&[0; 4]);
                h.extend_from_slice(&crc.to_le_bytes());
                h.extend_from_slice(&(body.len() as u32).to_le_bytes());
                h.extend_from_slice(&(x.data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(name.len() as u16).to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes());
                h
            };
            let local_name = x.local_name.unwrap_or(x.name).as_bytes();
            out.extend(fixed(LOCAL_SIG, local_name));
            out.extend_from_slice(local_name);
            out.extend_from_slice(&body);
            let mut c = CENTRAL_SIG.to_vec();
            c.extend_from_slice(&20u16.to_le_bytes());
            c.extend(fixed(b"", x.name.as_bytes()));
            c.extend_from_slice(&[0; 6]);
            c.extend_from_slice(&[0; 4]);
            c.extend_from_slice(&offset.to_le_bytes());
            c.extend_from_slice(x.name.as_bytes());
            central.extend(c);
        }
        let cd_offset = (out.len() - prefix.len()) as u32;
        let cd_size = central.len() as u32;
        out.extend(central);
        out.extend_from_slice(EOCD_SIG);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    /// Inserts a zip64 end record and its locator before the end record, as PyTorch's
    /// writer does in every file; `entries` overrides the member count it gives.
    fn with_zip64(mut zip: Vec<u8>, prefix: usize, entries: Option<u64>) -> Vec<u8> {
        let eocd = zip.split_off(zip.len() - 22);
        let n = u64::from(u16_at(&eocd, 10));
        let (size, offset) = (u64::from(u32_at(&eocd, 12)), u64::from(u32_at(&eocd, 16)));
        let record_at = (zip.len() - prefix) as u64;
        zip.extend_from_slice(EOCD64_SIG);
        zip.extend_from_slice(&44u64.to_le_bytes());
        zip.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [entries.unwrap_or(n), entries.unwrap_or(n), size, offset] {
            zip.extend_from_slice(&v.to_le_bytes());
        }
        zip.extend_from_slice(EOCD64_LOCATOR_SIG);
        zip.extend_from_slice(&0u32.to_le_bytes());
        zip.extend_from_slice(&record_at.to_le_bytes());
        zip.extend_from_slice(&1u32.to_le_bytes());
        zip.extend(eocd);
        zip
    }

    /// PyTorch writes a zip64 record even when the end record's fields are not saturated:
    /// the directory ends where that record starts, not at the end record.
    #[test]
    fn zip64_record_before_an_unsaturated_end_record() {
        let members = [
            m("archive/data.pkl", b"\x80\x02}q\x00."),
            m("archive/version", b"3\n"),
        ];
        for prefix in [&b""[..], b"junk before the archive"] {
            let zip = with_zip64(build(prefix, &members), prefix.len(), None);
            let (_, a) = open_bytes(&zip, &Limits::default());
            let a = a.unwrap();
            assert_eq!(a.members.len(), 2);
            assert!(
                !a.findings.iter().any(|e| e.rule == "zip.zip64_mismatch"),
                "{:?}",
                a.findings
            );
        }
        // the two records disagree: readers that ignore zip64 see another archive
        let zip = with_zip64(build(b"", &members[..1]), 0, Some(1));
        let zip = {
            // the end record claims two members where the zip64 record says one
            let mut z = zip;
            let at = z.len() - 22;
            z[at + 8..at + 12].copy_from_slice(&[2, 0, 2, 0]);
            z
        };
        let (_, a) = open_bytes(&zip, &Limits::default());
        let a = a.unwrap();
        assert_eq!(a.members.len(), 1);
        let e = a
            .findings
            .iter()
            .find(|e| e.rule == "zip.zip64_mismatch")
            .unwrap();
        assert_eq!(e.verdict, Verdict::Suspicious);
    }

    fn open_bytes(bytes: &[u8], limits: &Limits) -> (Cursor<Vec<u8>>, Result<Archive, Finding>) {
        let mut c = Cursor::new(bytes.to_vec());
        let a = open(&mut c, bytes.len() as u64, limits);
        (c, a)
    }

    fn rules(a: &Archive) -> Vec<&str> {
        a.findings.iter().map(|e| e.rule.as_str()).collect()
    }

    #[test]
    fn a_plain_archive_reads_back() {
        let mut big = m("archive/data.pkl", &[7u8; 5000]);
        big.deflate = true;
        let bytes = build(b"", &[m("archive/version", b"3\n"), big]);
        let limits = Limits::default();
        let (mut c, a) = open_bytes(&bytes, &limits);
        let a = a.unwrap();
        assert!(a.findings.is_empty(), "{:?}", a.findings);
        let mut budget = limits.max_total_bytes;
        assert_eq!(
            read(&mut c, &a.members[0], &limits, &mut budget)
                .unwrap()
                .bytes,
            b"3\n"
        );
        assert_eq!(
            read(&mut c, &a.members[1], &limits, &mut budget)
                .unwrap()
                .bytes,
            vec![7u8; 5000]
        );
        assert_eq!(budget, limits.max_total_bytes - 5002);
    }

    #[test]
    fn structural_tricks_become_evidence() {
        let mut enc = m("e", b"x");
        enc.flags = 1;
        let mut odd = m("f", b"x");
        odd.flags = 0x2000;
        let mut lzma = m("g", b"x");
        lzma.method = Some(14);
        let mut renamed = m("h.pkl", b"x");
        renamed.local_name = Some("h.txt");
        let bytes = build(
            b"",
            &[
                m("a", b"1"),
                m("a", b"2"),
                m("../../x", b"3"),
                m("/etc/y", b"4"),
                enc,
                odd,
                lzma,
                renamed,
            ],
        );
        let (_, a) = open_bytes(&bytes, &Limits::default());
        let a = a.unwrap();
        let r = rules(&a);
        for rule in [
            "zip.duplicate_name",
            "zip.path_traversal",
            "zip.encrypted",
            "zip.flags",
            "zip.compression",
            "zip.header_mismatch",
        ] {
            assert!(r.contains(&rule), "{rule} missing from {r:?}");
        }
        assert_eq!(r.iter().filter(|x| **x == "zip.path_traversal").count(), 2);
    }

    #[test]
    fn data_before_the_archive_is_a_polyglot() {
        let bytes = build(b"\x80\x02some pickle.", &[m("a", b"1")]);
        let (mut c, a) = open_bytes(&bytes, &Limits::default());
        let a = a.unwrap();
        assert_eq!(rules(&a), ["format.polyglot"]);
        // the members are still found where they really are
        let mut budget = u64::MAX;
        assert_eq!(
            read(&mut c, &a.members[0], &Limits::default(), &mut budget)
                .unwrap()
                .bytes,
            b"1"
        );
    }

    #[test]
    fn bad_crcs_bombs_and_limits_are_inconclusive() {
        let limits = Limits::default();
        let mut bad = m("a", b"hello");
        bad.crc_xor = 1;
        let mut bomb = m("z", &vec![0u8; 4 << 20]);
        bomb.deflate = true;
        let bytes = build(b"", &[bad, bomb]);
        let (mut c, a) = open_bytes(&bytes, &limits);
        let a = a.unwrap();
        let mut budget = limits.max_total_bytes;
        // a wrong crc is reported, and the bytes are still read (PyTorch does not check)
        let data = read(&mut c, &a.members[0], &limits, &mut budget).unwrap();
        assert_eq!(data.bytes, b"hello");
        let crc = data.crc_mismatch.expect("the crc finding");
        assert_eq!(
            (crc.verdict, crc.rule.as_str()),
            (Verdict::Inconclusive, "zip.crc")
        );
        assert_eq!(
            read(&mut c, &a.members[1], &limits, &mut budget)
                .unwrap_err()
                .rule,
            "zip.bomb"
        );
        // the total budget is shared by the members
        let mut small = 3;
        assert_eq!(
            read(&mut c, &a.members[0], &limits, &mut small)
                .unwrap_err()
                .rule,
            "zip.too_large"
        );

        let few = Limits {
            max_members: 1,
            ..Limits::default()
        };
        assert_eq!(
            open_bytes(&bytes, &few).1.unwrap_err().rule,
            "zip.too_many_members"
        );
    }

    #[test]
    fn truncated_and_garbage_archives_never_panic() {
        let bytes = build(b"", &[m("a", b"hello"), m("b", b"world")]);
        for cut in 0..bytes.len() {
            let part = &bytes[..cut];
            let (mut c, a) = open_bytes(part, &Limits::default());
            if let Ok(a) = a {
                for member in &a.members {
                    let _ = read(&mut c, member, &Limits::default(), &mut u64::MAX.clone());
                }
            }
        }
        assert_eq!(
            open_bytes(b"PK\x05\x06", &Limits::default())
                .1
                .unwrap_err()
                .rule,
            "zip.no_directory"
        );
    }

    #[test]
    fn escaping_paths() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\\\server\\x",
            "C:\\x",
            "a\\..\\..\\x",
        ] {
            assert!(escapes(bad), "{bad}");
        }
        for fine in ["archive/data.pkl", "a/..b/c", "x..y"] {
            assert!(!escapes(fine), "{fine}");
        }
    }
}
