//! Feature squeezing (Xu, Evans & Qi, NDSS 2018): an adversarial perturbation is small
//! and deliberate, so squeezing it out of an input (fewer colour levels, a median filter,
//! coarser numbers) moves the model's prediction far more than it moves a clean input's.
//! The score of an input is the largest L1 distance, over the squeezers, between the
//! model's probability vector on the input and on the squeezed input.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One way of squeezing an input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Squeezer {
    /// Bit-depth reduction: every value to one of `2^bits` levels over the range
    /// (`np.round(t × (2^bits − 1)) / (2^bits − 1)` on the range scaled to 0..1).
    Bits(u32),
    /// Median smoothing of an image, a `height × width` window per channel, edges
    /// reflected, the upper median for an even window: `scipy.ndimage.median_filter`
    /// with `size=(height, width)` and its default mode and origin.
    Median { height: usize, width: usize },
    /// Rounding every value to `decimals` decimals (negative: to tens, hundreds…).
    Round(i32),
    /// Every value to the centre of its bin among `bins` equal-width bins over its
    /// feature's reference range.
    Bins(u32),
}

impl fmt::Display for Squeezer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Squeezer::Bits(b) => write!(f, "bits:{b}"),
            Squeezer::Median { height, width } => write!(f, "median:{height}x{width}"),
            Squeezer::Round(d) => write!(f, "round:{d}"),
            Squeezer::Bins(n) => write!(f, "bins:{n}"),
        }
    }
}

impl FromStr for Squeezer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.trim().split_once(':').ok_or_else(|| {
            format!("`{s}` is not a squeezer: bits:B, median:HxW, round:D or bins:N")
        })?;
        let bad = |what: &str| format!("`{s}`: {what}");
        match kind {
            "bits" => match arg.parse::<u32>() {
                Ok(b @ 1..=16) => Ok(Squeezer::Bits(b)),
                _ => Err(bad("the bit depth is a whole number from 1 to 16")),
            },
            "median" => {
                let (h, w) = arg.split_once('x').unwrap_or((arg, arg));
                match (h.parse::<usize>(), w.parse::<usize>()) {
                    (Ok(height @ 1..=15), Ok(width @ 1..=15)) if height * width > 1 => {
                        Ok(Squeezer::Median { height, width })
                    }
                    _ => Err(bad(
                        "the window is HxW, each from 1 to 15, more than one pixel in all",
                    )),
                }
            }
            "round" => match arg.parse::<i32>() {
                Ok(d @ -12..=12) => Ok(Squeezer::Round(d)),
                _ => Err(bad("the decimals are a whole number from -12 to 12")),
            },
            "bins" => match arg.parse::<u32>() {
                Ok(n @ 1..=65_536) => Ok(Squeezer::Bins(n)),
                _ => Err(bad("the bins are a whole number from 1 to 65536")),
            },
            _ => Err(format!(
                "`{s}`: unknown squeezer `{kind}` (bits:B, median:HxW, round:D or bins:N)"
            )),
        }
    }
}

impl Serialize for Squeezer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Squeezer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The shape of an image input, channels last: a row of the matrix is
/// `height × width × channels` values, `(y, x, c)` at `(y × width + x) × channels + c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl FromStr for Image {
    type Err = String;

    /// `HxW` or `HxWxC`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<Option<usize>> = s
            .split('x')
            .map(|p| p.trim().parse().ok().filter(|&n| n > 0))
            .collect();
        match parts.as_slice() {
            [Some(height), Some(width)] => Ok(Image {
                height: *height,
                width: *width,
                channels: 1,
            }),
            [Some(height), Some(width), Some(channels)] => Ok(Image {
                height: *height,
                width: *width,
                channels: *channels,
            }),
            _ => Err(format!(
                "`{s}` is not an image shape: HxW or HxWxC (channels last), each at least 1"
            )),
        }
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.height, self.width, self.channels)
    }
}

impl Image {
    /// Values in one image.
    pub fn len(&self) -> Option<usize> {
        self.height
            .checked_mul(self.width)?
            .checked_mul(self.channels)
    }

    /// Never: an image has at least one pixel.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What squeezing needs besides the input: the value range (bit depth), each feature's
/// range (bins) and the image shape (median).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub low: f64,
    pub high: f64,
    pub ranges: &'a [[f64; 2]],
    pub image: Option<Image>,
}

/// `squeezer` applied to one row (`out` is overwritten, the same length as `row`).
pub(crate) fn squeeze(squeezer: Squeezer, row: &[f64], out: &mut [f64], cx: &Context<'_>) {
    match squeezer {
        Squeezer::Bits(bits) => {
            let levels = f64::from((1u32 << bits) - 1);
            let span = cx.high - cx.low;
            for (o, &x) in out.iter_mut().zip(row) {
                *o = if span > 0.0 && x.is_finite() {
                    let t = ((x - cx.low) / span).clamp(0.0, 1.0);
                    cx.low + (t * levels).round_ties_even() / levels * span
                } else {
                    x
                };
            }
        }
        Squeezer::Round(decimals) => {
            let scale = 10f64.powi(decimals);
            for (o, &x) in out.iter_mut().zip(row) {
                let r = (x * scale).round_ties_even() / scale;
                *o = if r.is_finite() { r } else { x };
            }
        }
        Squeezer::Bins(bins) => {
            for ((o, &x), range) in out.iter_mut().zip(row).zip(cx.ranges) {
                let [lo, hi] = *range;
                let width = (hi - lo) / f64::from(bins);
                *o = if width > 0.0 && x.is_finite() {
                    let bin = ((x - lo) / width).floor().clamp(0.0, f64::from(bins) - 1.0);
                    lo + (bin + 0.5) * width
                } else {
                    x
                };
            }
        }
        Squeezer::Median { height, width } => match cx.image {
            Some(image) => median(row, out, image, height, width),
            None => out.copy_from_slice(row),
        },
    }
}

/// `scipy.ndimage`'s `reflect` mode: `d c b a | a b c d | d c b a`.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let mut m = i.rem_euclid(period);
    if m >= n {
        m = period - 1 - m;
    }
    m as usize
}

/// The median filter, as `scipy.ndimage.median_filter(img, size=(kh, kw))` computes it
/// per channel: the window of a pixel spans offsets `−⌊k/2⌋ ..= k − 1 − ⌊k/2⌋` on each
/// axis, and the value is the window's element of rank `⌊kh·kw / 2⌋` (the upper median
/// when the window is even).
fn median(row: &[f64], out: &mut [f64], image: Image, kh: usize, kw: usize) {
    let Image {
        height,
        width,
        channels,
    } = image;
    let mut window = Vec::with_capacity(kh * kw);
    let (h0, w0) = ((kh / 2) as isize, (kw / 2) as isize);
    for y in 0..height {
        for x in 0..width {
            for c in 0..channels {
                window.clear();
                for dy in 0..kh as isize {
                    let yy = reflect(y as isize + dy - h0, height);
                    for dx in 0..kw as isize {
                        let xx = reflect(x as isize + dx - w0, width);
                        window.push(
                            row.get((yy * width + xx) * channels + c)
                                .copied()
                                .unwrap_or(f64::NAN),
                        );
                    }
                }
                let rank = window.len() / 2;
                window.select_nth_unstable_by(rank, f64::total_cmp);
                if let (Some(o), Some(v)) = (
                    out.get_mut((y * width + x) * channels + c),
                    window.get(rank),
                ) {
                    *o = *v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(image: Option<Image>) -> Context<'static> {
        Context {
            low: 0.0,
            high: 16.0,
            ranges: &[[0.0, 10.0], [0.0, 10.0]],
            image,
        }
    }

    #[test]
    fn squeezers_read_and_print() {
        for s in ["bits:3", "median:2x2", "median:3x1", "round:-1", "bins:16"] {
            assert_eq!(s.parse::<Squeezer>().unwrap().to_string(), s);
        }
        assert_eq!(
            "median:3".parse::<Squeezer>().unwrap(),
            Squeezer::Median {
                height: 3,
                width: 3
            }
        );
        for bad in [
            "bits",
            "bits:0",
            "bits:17",
            "median:1x1",
            "round:x",
            "blur:2",
        ] {
            assert!(bad.parse::<Squeezer>().is_err(), "{bad}");
        }
        assert_eq!("8x8".parse::<Image>().unwrap().len(), Some(64));
        assert_eq!("32x32x3".parse::<Image>().unwrap().channels, 3);
        assert!("8x0".parse::<Image>().is_err());
    }

    #[test]
    fn bit_depth_keeps_the_levels_only() {
        let row = [0.0, 1.0, 7.9, 8.1, 16.0, 40.0, f64::NAN];
        let mut out = [0.0; 7];
        squeeze(Squeezer::Bits(1), &row, &mut out, &cx(None));
        assert_eq!(out[..6], [0.0, 0.0, 0.0, 16.0, 16.0, 16.0]);
        assert!(out[6].is_nan());
        squeeze(Squeezer::Bits(2), &[5.0, 6.0], &mut out[..2], &cx(None));
        // Levels 0, 16/3, 32/3, 16.
        assert_eq!(out[..2], [16.0 / 3.0, 16.0 / 3.0]);
    }

    #[test]
    fn bins_and_rounding() {
        let mut out = [0.0; 2];
        squeeze(Squeezer::Bins(5), &[0.1, 9.99], &mut out, &cx(None));
        assert_eq!(out, [1.0, 9.0]);
        squeeze(Squeezer::Round(-1), &[14.0, 16.0], &mut out, &cx(None));
        assert_eq!(out, [10.0, 20.0]);
    }

    #[test]
    fn the_median_reflects_its_edges_as_scipy_does() {
        // scipy.ndimage.median_filter(np.arange(9.).reshape(3, 3), size=2)
        //   → [[0, 1, 2], [3, 3, 4], [6, 6, 7]]; with size=3 → [[1, 2, 2], [3, 4, 5], [6, 6, 7]].
        let img = Image {
            height: 3,
            width: 3,
            channels: 1,
        };
        let row: Vec<f64> = (0..9).map(f64::from).collect();
        let mut out = vec![0.0; 9];
        squeeze(
            Squeezer::Median {
                height: 2,
                width: 2,
            },
            &row,
            &mut out,
            &cx(Some(img)),
        );
        assert_eq!(out, [0.0, 1.0, 2.0, 3.0, 3.0, 4.0, 6.0, 6.0, 7.0]);
        squeeze(
            Squeezer::Median {
                height: 3,
                width: 3,
            },
            &row,
            &mut out,
            &cx(Some(img)),
        );
        assert_eq!(out, [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0, 7.0]);
        // A window that is not square, on an image that is not either:
        // median_filter([[5, 1, 9, 2], [3, 8, 0, 7], [6, 4, 2, 1]], size=(2, 3)).
        let img = Image {
            height: 3,
            width: 4,
            channels: 1,
        };
        let row = [5.0, 1.0, 9.0, 2.0, 3.0, 8.0, 0.0, 7.0, 6.0, 4.0, 2.0, 1.0];
        let mut out = vec![0.0; 12];
        squeeze(
            Squeezer::Median {
                height: 2,
                width: 3,
            },
            &row,
            &mut out,
            &cx(Some(img)),
        );
        assert_eq!(
            out,
            [5.0, 5.0, 2.0, 2.0, 5.0, 5.0, 7.0, 7.0, 6.0, 4.0, 4.0, 2.0]
        );
        assert_eq!(reflect(-1, 3), 0);
        assert_eq!(reflect(-2, 3), 1);
        assert_eq!(reflect(3, 3), 2);
        assert_eq!(reflect(4, 1), 0);
    }
}
