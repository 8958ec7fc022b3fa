//! Field extraction by key anchors and by layout, shared by the document pipelines: a value
//! is the text right of its label on the same line, or the nearest line to its right on the
//! same row; lines no label claimed can be assigned by template regions of the rectified
//! document.

use super::Field;
use super::locate::{centre, height};
use ocr_core::ocr::{Line, Point, Quad};

/// A line's text without whitespace.
pub fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A labelled value: its text, confidence, box and the lines it came from.
#[derive(Debug, Clone)]
pub struct Value {
    /// The value's text (spaces removed).
    pub text: String,
    /// Mean character confidence of its line(s).
    pub confidence: f32,
    /// Its box in the document.
    pub quad: Quad,
    /// Indices of the lines it came from.
    pub lines: Vec<usize>,
}

/// Where a label starts in a line's compact text (byte offsets `(start, end)`): an exact
/// spelling anywhere, or, for a line starting in the label column (`label_column`), a misread
/// label at its start: half of the characters of a 4+ character label in place, or one of the
/// two characters of a short one (`性照` for 性别).
pub fn find_label(t: &str, spellings: &[&str], label_column: bool) -> Option<(usize, usize)> {
    if let Some((p, s)) = spellings
        .iter()
        .filter_map(|s| t.find(s).map(|p| (p, *s)))
        .min_by_key(|(p, _)| *p)
    {
        return Some((p, p + s.len()));
    }
    if !label_column {
        return None;
    }
    let tc: Vec<char> = t.chars().collect();
    let label: Vec<char> = spellings.first()?.chars().collect();
    if tc.len() < label.len() {
        return None;
    }
    let same = label.iter().zip(&tc).filter(|(a, b)| a == b).count();
    // A line that is only the label may have more of it misread.
    let enough =
        same >= 1 && (label.len() <= 2 || tc.len() == label.len() || 2 * same >= label.len());
    enough.then(|| (0, tc[..label.len()].iter().map(|c| c.len_utf8()).sum()))
}

/// Values by key anchors: for each label found, the text after it on its line (up to the next
/// label), or else the nearest line to its right on the same row (an unlabelled line, or the
/// text before the first label of a labelled one: `女民族汉` holds the sex before 民族).
pub fn anchored(
    lines: &[Line],
    labels: &[(&'static str, &[&str])],
    label_column: impl Fn(&Line) -> bool,
) -> Vec<(&'static str, Value)> {
    let texts: Vec<String> = lines.iter().map(|l| compact(&l.text)).collect();
    // (line, label start, label end, key) of every label occurrence.
    let mut marks: Vec<(usize, usize, usize, &'static str)> = Vec::new();
    // Exact spellings first, so a misread-label match (`寄件地址` looks like a misread 寄件人)
    // never hides a label that is there in full.
    for fuzzy in [false, true] {
        for (i, t) in texts.iter().enumerate() {
            let in_column = fuzzy && label_column(&lines[i]);
            for (key, spellings) in labels {
                if let Some((a, b)) = find_label(t, spellings, in_column)
                    && !marks.iter().any(|m| m.0 == i && a < m.2 && m.1 < b)
                {
                    marks.push((i, a, b, key));
                }
            }
        }
    }
    marks.sort_by_key(|m| (m.0, m.1));
    // Text before the first label of each labelled line.
    let prefix = |i: usize| -> &str {
        let first = marks
            .iter()
            .filter(|m| m.0 == i)
            .map(|m| m.1)
            .min()
            .unwrap_or(0);
        &texts[i][..first]
    };
    let labelled: Vec<usize> = marks.iter().map(|m| m.0).collect();
    let mut out = Vec::new();
    for (k, &(i, _, end, key)) in marks.iter().enumerate() {
        let next = marks
            .get(k + 1)
            .filter(|m| m.0 == i)
            .map_or(texts[i].len(), |m| m.1);
        let rest = texts[i].get(end..next.max(end)).unwrap_or("").to_string();
        if !rest.is_empty() {
            let quad = value_quad(
                &lines[i],
                texts[i][..end].chars().count(),
                rest.chars().count(),
            );
            out.push((
                key,
                Value {
                    text: rest,
                    confidence: lines[i].confidence,
                    quad,
                    lines: vec![i],
                },
            ));
            continue;
        }
        let Point { x: cx, y: cy } = centre(&lines[i].quad);
        let h = height(&lines[i].quad).max(8.0);
        let right = lines
            .iter()
            .enumerate()
            .filter(|(j, l)| {
                (!labelled.contains(j) || !prefix(*j).is_empty()) && {
                    let Point { x, y } = centre(&l.quad);
                    x > cx && (y - cy).abs() < 0.6 * h.max(height(&l.quad))
                }
            })
            .min_by(|a, b| centre(&a.1.quad).x.total_cmp(&centre(&b.1.quad).x));
        if let Some((j, l)) = right {
            let text = if labelled.contains(&j) {
                prefix(j).to_string()
            } else {
                texts[j].clone()
            };
            out.push((
                key,
                Value {
                    text,
                    confidence: l.confidence,
                    quad: l.quad,
                    lines: vec![j],
                },
            ));
        }
    }
    out
}

/// The part of a line's box that holds the `take` non-space characters from the `skip`-th on
/// (the value after a label), from the characters' boxes: from midway between the label's
/// last character and the value's first to midway between the value's last and the next
/// character, or to the line's end. A character's box spans only the CTC time steps that
/// emitted it, narrower than the character: a one-character value (民族 仡佬 read as `佬`)
/// would get a sliver no re-read can use. The whole box when there is no label before the
/// value or the characters are not available.
pub fn value_quad(line: &Line, skip: usize, take: usize) -> Quad {
    let chars: Vec<&ocr_core::ocr::Char> =
        line.chars.iter().filter(|c| c.text.trim() != "").collect();
    if skip == 0 || take == 0 || skip + take > chars.len() {
        return line.quad;
    }
    let (first, last) = (chars[skip], chars[skip + take - 1]);
    let left = (chars[skip - 1].quad[1].x + first.quad[0].x) / 2.0;
    let right = match chars.get(skip + take) {
        Some(next) => (last.quad[1].x + next.quad[0].x) / 2.0,
        None => line.quad[1].x.max(line.quad[2].x).max(last.quad[1].x),
    };
    [
        Point::new(left, line.quad[0].y),
        Point::new(right, line.quad[1].y),
        Point::new(right, line.quad[2].y),
        Point::new(left, line.quad[3].y),
    ]
}

/// Unlabelled lines in a layout region (fractions of the card) that no field has taken.
pub fn in_layout(
    lines: &[Line],
    used: &[usize],
    region: (f32, f32, f32, f32),
    size: (f32, f32),
) -> Option<Value> {
    let picked: Vec<usize> = (0..lines.len())
        .filter(|i| !used.contains(i))
        .filter(|&i| {
            let Point { x, y } = centre(&lines[i].quad);
            let (fx, fy) = (x / size.0, y / size.1);
            fx >= region.0 && fx <= region.2 && fy >= region.1 && fy <= region.3
        })
        .collect();
    let first = *picked.first()?;
    Some(Value {
        text: picked.iter().map(|&i| compact(&lines[i].text)).collect(),
        confidence: picked.iter().map(|&i| lines[i].confidence).sum::<f32>() / picked.len() as f32,
        quad: lines[first].quad,
        lines: picked,
    })
}

/// A general-recogniser field from a value.
pub fn field(v: &Value, text: String, valid: Option<bool>, corrected: bool) -> Field {
    Field {
        text,
        confidence: v.confidence,
        quad: Some(v.quad),
        valid,
        corrected,
        recognizer: "general",
    }
}

/// Extends a value with the unlabelled lines below it that continue it (a wrapped address or
/// business scope): each must start within `x_range` (document pixels), begin within 1.6 line
/// heights under the previous one and not be taken already (`used`); lines join without
/// spaces. With `stop_at_labels`, a line that opens with some other label (`计费重量：`: a
/// few characters, no digits, then a colon) ends the value. The taken lines are added to
/// `used`.
pub fn continue_down(
    lines: &[Line],
    used: &mut Vec<usize>,
    v: &mut Value,
    x_range: (f32, f32),
    stop_at_labels: bool,
) {
    let mut bottom = v.quad[3].y.max(v.quad[2].y);
    let h = height(&v.quad).max(8.0);
    loop {
        let next = (0..lines.len())
            .filter(|i| !used.contains(i) && !v.lines.contains(i))
            .filter(|&i| {
                let q = &lines[i].quad;
                let top = q[0].y.min(q[1].y);
                q[0].x >= x_range.0
                    && q[0].x <= x_range.1
                    && top > bottom - 0.5 * h
                    && top < bottom + 1.6 * h
            })
            .min_by(|&a, &b| lines[a].quad[0].y.total_cmp(&lines[b].quad[0].y));
        let Some(i) = next else { break };
        if stop_at_labels && opens_with_label(&compact(&lines[i].text)) {
            break;
        }
        v.text.push_str(&compact(&lines[i].text));
        v.confidence = (v.confidence * v.lines.len() as f32 + lines[i].confidence)
            / (v.lines.len() + 1) as f32;
        bottom = lines[i].quad[3].y.max(lines[i].quad[2].y);
        v.lines.push(i);
        used.push(i);
    }
}

/// True when a text starts with a label: 2 to 8 characters without digits, then a colon.
fn opens_with_label(t: &str) -> bool {
    t.chars()
        .take(9)
        .position(|c| c == '：' || c == ':')
        .is_some_and(|p| p >= 2 && !t.chars().take(p).any(|c| c.is_ascii_digit()))
}

/// The box of characters `start..start + len` of a line (padded by 60% of a character on each
/// side), from the characters' boxes; the whole line when the span is empty or the boxes do
/// not match the text's characters one to one.
pub fn span_quad(line: &Line, start: usize, len: usize) -> Quad {
    if len == 0 || line.chars.len() != line.text.chars().count() {
        return line.quad;
    }
    match (line.chars.get(start), line.chars.get(start + len - 1)) {
        (Some(a), Some(b)) => {
            let (a, b) = (&a.quad, &b.quad);
            let pad = (b[1].x - a[0].x) / len as f32 * 0.6;
            [
                Point::new(a[0].x - pad, line.quad[0].y.min(a[0].y)),
                Point::new(b[1].x + pad, line.quad[1].y.min(b[1].y)),
                Point::new(b[2].x + pad, line.quad[2].y.max(b[2].y)),
                Point::new(a[3].x - pad, line.quad[3].y.max(a[3].y)),
            ]
        }
        _ => line.quad,
    }
}

/// The longest run of characters from `alphabet` in a text (lower-case letters upper-cased),
/// with the index of its first character.
pub fn longest_run(text: &str, alphabet: &str) -> (usize, String) {
    let mut best = (0, String::new());
    let mut cur = (0, String::new());
    for (i, c) in text.chars().enumerate() {
        let c = c.to_ascii_uppercase();
        if alphabet.contains(c) {
            if cur.1.is_empty() {
                cur.0 = i;
            }
            cur.1.push(c);
        } else {
            if cur.1.chars().count() > best.1.chars().count() {
                best = std::mem::take(&mut cur);
            }
            cur = (0, String::new());
        }
    }
    if cur.1.chars().count() > best.1.chars().count() {
        best = cur;
    }
    best
}

/// A value's text without the label punctuation that may lead it (`：`, `:`).
pub fn strip_colon(s: &str) -> String {
    s.trim_start_matches(['：', ':', '.', '·']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_core::ocr::Char;

    /// A line of `text` whose characters' boxes are as narrow as CTC time steps make them:
    /// 4 pixels at the middle of each 20-pixel cell, the line box 10 pixels wider each side.
    fn line(text: &str) -> Line {
        let cell = |i: usize, w: f32| {
            let x = 20.0 * i as f32 + 10.0 - w / 2.0;
            [
                Point::new(x, 0.0),
                Point::new(x + w, 0.0),
                Point::new(x + w, 20.0),
                Point::new(x, 20.0),
            ]
        };
        let n = text.chars().count();
        Line {
            text: text.into(),
            confidence: 0.9,
            quad: [
                Point::new(-10.0, 0.0),
                Point::new(20.0 * n as f32 + 10.0, 0.0),
                Point::new(20.0 * n as f32 + 10.0, 20.0),
                Point::new(-10.0, 20.0),
            ],
            angle: 0,
            chars: text
                .chars()
                .enumerate()
                .map(|(i, c)| Char {
                    text: c.to_string(),
                    confidence: 0.9,
                    quad: cell(i, 4.0),
                    alternative: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_value_box_spans_its_characters_cells() {
        // 民族佬: the one-character value runs from between 族 and 佬 to the line's end.
        let q = value_quad(&line("民族佬"), 2, 1);
        assert_eq!((q[0].x, q[1].x), (40.0, 70.0));
        // 性别男民族汉: the sex value stops halfway to the next label.
        let q = value_quad(&line("性别男民族汉"), 2, 1);
        assert_eq!((q[0].x, q[1].x), (40.0, 60.0));
        // No label before it, or characters missing: the whole line.
        let l = line("佬");
        assert_eq!(value_quad(&l, 0, 1), l.quad);
        assert_eq!(value_quad(&l, 1, 1), l.quad);
    }
}
