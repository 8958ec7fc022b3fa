//! Vehicle identifiers: Chinese licence plates (including 8-character new-energy plates) and
//! VINs (17 characters, ISO 3779 check digit). Each reads a crop of the identifier, or finds
//! the most plausible line in a photo.

use super::{Field, check, read_options};
use image::RgbImage;
use ocr_core::ocr::{Engine, Line, OcrError, ReadOptions};

/// VIN characters: digits and capitals without I, O and Q.
const VIN_CHARS: &str = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '-'))
        .collect()
}

/// A plate field from a line: letters, digits and Chinese characters only (separators such
/// as `·`, `-` and spaces, and stray marks such as a trailing `.`, removed), letters upper
/// case; `valid` by the Chinese plate rules (province, issuing letter, serial; new-energy D/F
/// forms).
fn plate_field(line: &Line) -> Field {
    let text: String = line
        .text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_uppercase();
    Field {
        valid: Some(check::plate(&text)),
        text,
        ..Field::from_line(line, None, "general")
    }
}

/// Reads a licence plate: `crop` when the image is the plate itself, else the line of a photo
/// that best passes as a plate ([`best_plate`]).
pub fn read_plate(engine: &Engine, img: &RgbImage, crop: bool) -> Result<Option<Field>, OcrError> {
    if crop {
        let line = engine.recognize_line(img, &read_options())?;
        return Ok(Some(plate_field(&line)));
    }
    let page = engine.read(img, &read_options())?;
    Ok(best_plate(&page.lines))
}

/// The line of a photo that best passes as a plate: a valid Chinese plate first, then the
/// most confident line of 5 to 10 plate characters holding a digit (plates elsewhere, such
/// as `AA-775-RY` or `0226 FBV`, hold digits; a car's badge such as `DACIA` does not).
pub fn best_plate(lines: &[Line]) -> Option<Field> {
    lines
        .iter()
        .map(plate_field)
        .filter(|f| {
            (5..=10).contains(&f.text.chars().count()) && f.text.chars().any(|c| c.is_ascii_digit())
        })
        .max_by(|a, b| {
            (a.valid, a.confidence)
                .partial_cmp(&(b.valid, b.confidence))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
}

/// A VIN field from a line read with the VIN alphabet: the 17-character run, checked, and
/// repaired from second choices when the check digit fails.
fn vin_field(line: &Line) -> Option<Field> {
    let text = compact(&line.text);
    if text.chars().count() != 17 {
        return None;
    }
    let mut f = Field {
        valid: Some(check::vin(&text)),
        text,
        ..Field::from_line(line, None, "general")
    };
    if f.valid == Some(false)
        && let Some(fixed) =
            super::repair_with_alternatives(&line.chars, VIN_CHARS, 4, 0.0, f32::INFINITY, |s| {
                check::vin(&compact(s))
            })
    {
        f.text = compact(&fixed);
        f.valid = Some(true);
        f.corrected = true;
    }
    Some(f)
}

/// Reads a VIN with the VIN alphabet only: `crop` when the image is the VIN line, else the
/// 17-character line of a photo that passes its check (or the most confident one).
pub fn read_vin(engine: &Engine, img: &RgbImage, crop: bool) -> Result<Option<Field>, OcrError> {
    let opts = ReadOptions {
        allowed_chars: Some(VIN_CHARS.into()),
        ..read_options()
    };
    if crop {
        let line = engine.recognize_line(img, &opts)?;
        return Ok(vin_field(&line).or_else(|| {
            Some(Field {
                valid: Some(false),
                ..Field::from_line(&line, None, "general")
            })
        }));
    }
    // Find the lines with the open alphabet (labels read as themselves), then re-read the
    // 17-character candidates with the VIN alphabet.
    let page = engine.read(img, &read_options())?;
    let mut best: Option<Field> = None;
    for l in &page.lines {
        let alnum = compact(&l.text)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .count();
        if alnum < 15 {
            continue;
        }
        let crop = ocr_core::ocr::rectify::crop(img, &l.quad);
        let reread = engine
            .recognize_crops(vec![crop], &opts, &mut Default::default())?
            .remove(0);
        if let Some(mut f) = vin_field(&reread) {
            f.quad = Some(l.quad);
            let better = best
                .as_ref()
                .is_none_or(|b| (f.valid, f.confidence) > (b.valid, b.confidence));
            if better {
                best = Some(f);
            }
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_core::ocr::{Alternative, Char, Point};

    #[test]
    fn a_vin_with_one_unsure_character_is_repaired() {
        // 1M8GDM9AXKP042788 is valid (check digit X); read with its 9th char as 7, second
        // choice X.
        let read = "1M8GDM9A7KP042788";
        let q = [Point::new(0.0, 0.0); 4];
        let chars: Vec<Char> = read
            .chars()
            .enumerate()
            .map(|(i, c)| Char {
                text: c.to_string(),
                confidence: if i == 8 { 0.4 } else { 0.99 },
                quad: q,
                alternative: Some(Alternative {
                    text: if i == 8 { "X".into() } else { "0".into() },
                    confidence: 0.3,
                }),
            })
            .collect();
        let line = Line {
            text: read.into(),
            confidence: 0.95,
            quad: q,
            angle: 0,
            chars,
        };
        let f = vin_field(&line).unwrap();
        assert_eq!(f.text, "1M8GDM9AXKP042788");
        assert_eq!((f.valid, f.corrected), (Some(true), true));
    }

    #[test]
    fn plates_are_normalised_and_checked() {
        let q = [Point::new(0.0, 0.0); 4];
        let line = |t: &str| Line {
            text: t.into(),
            confidence: 0.9,
            quad: q,
            angle: 0,
            chars: Vec::new(),
        };
        let f = plate_field(&line("浙E·55555"));
        assert_eq!((f.text.as_str(), f.valid), ("浙E55555", Some(true)));
        let f = plate_field(&line("粤B D12345"));
        assert_eq!((f.text.as_str(), f.valid), ("粤BD12345", Some(true)));
        assert_eq!(plate_field(&line("ABC123")).valid, Some(false));
        assert_eq!(plate_field(&line("0226 FBV.")).text, "0226FBV");
        // In a photo: a valid Chinese plate beats any other line; else the most confident
        // line with a digit, not a badge.
        let at = |t: &str, confidence: f32| Line {
            confidence,
            ..line(t)
        };
        let pick = |lines: &[Line]| best_plate(lines).map(|f| f.text);
        assert_eq!(
            pick(&[at("DACIA", 0.99), at("AA-775-RY", 0.9), at("RY", 0.99)]).as_deref(),
            Some("AA775RY")
        );
        assert_eq!(
            pick(&[at("ABC1234", 0.99), at("浙E·55555", 0.8)]).as_deref(),
            Some("浙E55555")
        );
        assert_eq!(pick(&[at("DACIA", 0.99), at("12", 0.99)]), None);
    }
}
