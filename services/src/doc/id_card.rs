//! Chinese resident ID cards (GB 11643-1999 numbers), front and back.
//!
//! Stages: locate the card(s) in the photo (a BDCI-style scan may hold both sides; a side whose
//! outline does not show is found by its text layout) -> rectify each to 856x540 -> read it,
//! turning it over when most lines read upside down, dropping specks -> tell the side by its
//! labels -> extract fields by key anchors (the value right of its label, or the
//! next line on the same row), with the standard layout as the fallback for lines whose label
//! was not read -> re-read the ID number with the ID alphabet only -> check and cross-check
//! (check character, birth date and sex against the number, ethnicity among the 56 groups,
//! validity period). A warped card that misses a field is completed from a reading of the
//! photo as it is.

use super::anchor::{Value, anchored, compact, field, find_label, in_layout, longest_run};
use super::locate::{self, ID1_ASPECT, ID1_SIZE, centre, height};
use super::{Field, check, normalize};
use image::RgbImage;
use ocr_core::ocr::{Engine, Line, OcrError, Quad, geometry};
use serde::Serialize;

/// Which side of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Photo, name, sex, ethnicity, birth date, address, ID number.
    Front,
    /// National emblem, issuing authority, validity period.
    Back,
}

/// The front's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Front {
    /// 姓名.
    pub name: Option<Field>,
    /// 性别: 男 or 女.
    pub sex: Option<Field>,
    /// 民族: one of the 56 groups.
    pub ethnicity: Option<Field>,
    /// 出生, as `YYYY-MM-DD`.
    pub birth_date: Option<Field>,
    /// 住址, lines joined.
    pub address: Option<Field>,
    /// 公民身份号码, 18 characters, `X` upper case.
    pub id_number: Option<Field>,
    /// Province of the number's region code.
    pub province: Option<&'static str>,
}

/// The back's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Back {
    /// 签发机关.
    pub authority: Option<Field>,
    /// Start of the validity period, `YYYY.MM.DD`.
    pub valid_from: Option<Field>,
    /// End of the validity period, `YYYY.MM.DD` or `长期`.
    pub valid_to: Option<Field>,
    /// A line naming a public security bureau where no authority label was read: the
    /// authority when no reading of the card finds the labelled one.
    #[serde(skip)]
    unlabelled_authority: Option<Field>,
}

/// One card side found in the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdCard {
    /// Which side.
    pub side: Side,
    /// The card's corners in the image.
    #[serde(rename = "box")]
    pub quad: Quad,
    /// Whether the card was read upside down and turned.
    pub turned: bool,
    /// Front fields (front side only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub front: Option<Front>,
    /// Back fields (back side only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub back: Option<Back>,
}

impl Side {
    /// `front` or `back`, as manifests name the side.
    pub fn name(self) -> &'static str {
        match self {
            Side::Front => "front",
            Side::Back => "back",
        }
    }
}

impl IdCard {
    /// The fields as `name -> text` (the dev manifests' standard names).
    pub fn field_texts(&self) -> Vec<(&'static str, String)> {
        self.fields()
            .into_iter()
            .map(|(k, f)| (k, f.text.clone()))
            .collect()
    }

    /// The fields that were found, by standard name: the front's, then the back's.
    pub fn fields(&self) -> Vec<(&'static str, &Field)> {
        let front = self.front.iter().flat_map(Front::fields);
        front
            .chain(self.back.iter().flat_map(Back::fields))
            .collect()
    }
}

field_list!(Front {
    "name" => name,
    "sex" => sex,
    "ethnicity" => ethnicity,
    "birth_date" => birth_date,
    "address" => address,
    "id_number" => id_number,
});

field_list!(Back {
    "authority" => authority,
    "valid_from" => valid_from,
    "valid_to" => valid_to,
});

/// Label spellings (and partial readings) of each front field.
const FRONT_LABELS: &[(&str, &[&str])] = &[
    ("name", &["姓名"]),
    ("sex", &["性别"]),
    ("ethnicity", &["民族"]),
    ("birth_date", &["出生"]),
    ("address", &["住址"]),
    ("id_number", &["公民身份号码", "身份号码", "公民身份"]),
];

/// Label spellings of each back field.
const BACK_LABELS: &[(&str, &[&str])] = &[
    ("authority", &["签发机关", "签发机"]),
    ("validity", &["有效期限", "有效期"]),
];

/// Words on the back that are not fields.
const BACK_TITLES: &[&str] = &["中华人民共和国", "居民身份证"];

/// Standard front layout on the 856x540 card: (field, x0, y0, x1, y1) as fractions, for lines
/// whose label was not read.
const FRONT_LAYOUT: &[(&str, f32, f32, f32, f32)] = &[
    ("name", 0.16, 0.06, 0.62, 0.22),
    ("sex", 0.16, 0.22, 0.34, 0.34),
    ("ethnicity", 0.34, 0.22, 0.62, 0.34),
    ("birth_date", 0.16, 0.34, 0.62, 0.47),
    ("address", 0.16, 0.47, 0.64, 0.78),
    ("id_number", 0.30, 0.78, 0.98, 0.95),
];

/// Reads the ID card sides in a photo (or, with `crop`, an image that is one card).
pub fn read(engine: &Engine, img: &RgbImage, crop: bool) -> Result<Vec<IdCard>, OcrError> {
    let whole = locate::whole_quad(img.width() as f32, img.height() as f32);
    // (quad, whether it is the card's outline: only an outline is warped to the card's shape).
    // `other_side`: the second quad was only looked for as the first card's other side.
    let mut other_side = false;
    let quads: Vec<(Quad, bool)> = if crop {
        vec![(whole, false)]
    } else {
        let found = locate::readable_documents(img, Some(ID1_ASPECT));
        let best = found.first().map_or(0.0, |l| l.score);
        if found.iter().any(|l| l.outlined) {
            let mut q: Vec<(Quad, bool)> = found
                .into_iter()
                .filter(|l| l.outlined && l.score >= 0.5 * best)
                .take(2)
                .map(|l| (l.quad, true))
                .collect();
            // A scan of both sides (the BDCI layout: two cards on a plain canvas) can show one
            // card's outline and not the other's. When the one outline covers under a third of
            // the photo and leaves room beside it for another card its size, the text layout
            // outside it may hold the other side. (The text layout costs a detector pass over
            // the whole photo: a single card in the middle of a photo is spared it.)
            let (w, h) = (img.width() as f32, img.height() as f32);
            if q.len() == 1
                && geometry::area(&q[0].0) < w * h / 3.0
                && locate::room_beside(&q[0].0, w, h)
            {
                let outline = q[0].0;
                let others = text_layout_cards(engine, img)?
                    .into_iter()
                    .filter(|g| !locate::inside(&outline, centre(g)));
                q.extend(others.take(1).map(|g| (g, false)));
                other_side = q.len() == 2;
            }
            q
        } else {
            // No outline: the text layout says where the card(s) are.
            let mut q: Vec<(Quad, bool)> = text_layout_cards(engine, img)?
                .into_iter()
                .take(2)
                .map(|g| (g, false))
                .collect();
            if q.is_empty() {
                q.push((whole, false));
            }
            q
        }
    };
    let mut cards = Vec::new();
    for (quad, outlined) in quads {
        // An outline is warped to the card's shape; a text-layout region keeps its own.
        let doc = locate::Rectified::new(img, &quad, outlined.then_some(ID1_SIZE));
        let Some(mut card) = read_side(engine, doc)? else {
            continue;
        };
        if other_side && cards.iter().any(|c: &IdCard| c.side == card.side) {
            continue;
        }
        // Warping a small photo up to the card's 856x540 can blur a line past reading (the dev
        // set's 300x224 back photo loses its authority line, label and all, which the photo
        // as it is reads right). When the warped card misses a field, the photo is read again
        // as it is, and fields that reading finds on the same side fill the gaps.
        if outlined
            && card.missing_fields()
            && let Some(plain) = read_side(engine, locate::Rectified::whole(img))?
        {
            card.fill_from(plain);
        }
        // The authority is always a public security bureau (`…公安局`, `…公安分局`): when no
        // reading found its label (a stamp or glare over it), the line naming one is the value.
        if let Some(back) = &mut card.back
            && back.authority.is_none()
        {
            back.authority = back.unlabelled_authority.take();
        }
        cards.push(card);
    }
    Ok(cards)
}

/// Card regions by the text layout (for cards whose outlines do not show), largest first:
/// groups of at least four text boxes, leaving out groups under 15% of the largest's size.
fn text_layout_cards(engine: &Engine, img: &RgbImage) -> Result<Vec<Quad>, OcrError> {
    let boxes: Vec<Quad> = engine
        .detect(img, &Default::default())?
        .into_iter()
        .map(|b| b.quad)
        .collect();
    let groups = locate::from_text_layout(&boxes, 2.5, 4, 0.06);
    let biggest = groups.first().map_or(0.0, |g| g.score);
    Ok(groups
        .into_iter()
        .filter(|g| g.score >= 0.15 * biggest)
        .map(|g| g.quad)
        .collect())
}

/// Reads one card side from `doc` (a warped card, or a region of the photo), with field boxes
/// in the photo; `None` when neither side's labels are read.
fn read_side(engine: &Engine, mut doc: locate::Rectified) -> Result<Option<IdCard>, OcrError> {
    let page = super::read_upright(engine, &mut doc)?;
    let lines = without_specks(page.lines);
    let Some(side) = side_of(&lines) else {
        return Ok(None);
    };
    let mut out = IdCard {
        side,
        quad: doc.quad,
        turned: doc.turned,
        front: None,
        back: None,
    };
    match side {
        Side::Front => {
            let mut f = parse_front(engine, &doc.image, &lines)?;
            for field in f.slots_mut() {
                super::to_photo(field, &doc);
            }
            out.front = Some(f);
        }
        Side::Back => {
            let mut b = parse_back(&lines, doc.image.width() as f32);
            for field in b.slots_mut() {
                super::to_photo(field, &doc);
            }
            super::to_photo(&mut b.unlabelled_authority, &doc);
            out.back = Some(b);
        }
    }
    Ok(Some(out))
}

/// The lines without specks: single characters under half the median line height (a fleck of
/// the card's background pattern read as `家` between a label and its value) would otherwise be
/// taken as the value nearest the label. Lines of small print (a back's validity line under its
/// large title) hold more than one character and stay.
fn without_specks(lines: Vec<Line>) -> Vec<Line> {
    let Some(median) = locate::median_height(lines.iter().map(|l| &l.quad)) else {
        return lines;
    };
    lines
        .into_iter()
        .filter(|l| l.text.chars().count() > 1 || height(&l.quad) >= 0.5 * median)
        .collect()
}

impl IdCard {
    /// Whether a field of its side was not found.
    fn missing_fields(&self) -> bool {
        let front = self.front.iter().flat_map(Front::slots);
        let back = self.back.iter().flat_map(Back::slots);
        front.chain(back).any(|(_, f)| f.is_none())
    }

    /// Completes this reading with `other`, a reading of the same card as the photo is. On
    /// the back, whose fields stand alone, each missing field is taken from `other`. On the
    /// front, whose birth date and sex are checked against the number, the reading that found
    /// more fields is kept whole.
    fn fill_from(&mut self, mut other: IdCard) {
        if let (Some(mine), Some(theirs)) = (&mut self.back, &mut other.back) {
            for (m, t) in mine.slots_mut().into_iter().zip(theirs.slots_mut()) {
                if m.is_none() {
                    *m = t.take();
                }
            }
            if mine.unlabelled_authority.is_none() {
                mine.unlabelled_authority = theirs.unlabelled_authority.take();
            }
        }
        if let (Some(mine), Some(theirs)) = (&self.front, &other.front)
            && theirs.fields().len() > mine.fields().len()
        {
            self.front = other.front;
            self.turned = other.turned;
        }
    }
}

fn side_of(lines: &[Line]) -> Option<Side> {
    let count = |labels: &[(&str, &[&str])], extra: &[&str]| {
        lines
            .iter()
            .map(|l| compact(&l.text))
            .filter(|t| {
                labels.iter().any(|(_, v)| v.iter().any(|s| t.contains(s)))
                    || extra.iter().any(|s| t.contains(s))
            })
            .count()
    };
    let digits18 = lines.iter().any(|l| id_run(&l.text).len() >= 15);
    let front = count(FRONT_LABELS, &[]) + usize::from(digits18);
    let back = count(BACK_LABELS, BACK_TITLES);
    match (front, back) {
        (0, 0) => None,
        (f, b) if f >= b => Some(Side::Front),
        _ => Some(Side::Back),
    }
}

/// The ID number's alphabet (`x` reads as `X`).
const ID_ALPHABET: &str = "0123456789X";

/// The longest run of ID-number characters (digits, X) in a text.
fn id_run(text: &str) -> String {
    longest_run(text, ID_ALPHABET).1
}

/// The runs of digits in `text`, as numbers.
fn numbers_in(text: &str) -> Vec<u32> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// `YYYY-MM-DD` from a birth line such as `1974年4月11日` or `1974 4 11`.
fn birth_date(text: &str) -> Option<String> {
    match numbers_in(text).as_slice() {
        [y, m, d, ..] if *y >= 1000 => Some(format!("{y:04}-{m:02}-{d:02}")),
        [ymd] if *ymd >= 10_000_000 => Some(format!(
            "{:04}-{:02}-{:02}",
            ymd / 10_000,
            ymd / 100 % 100,
            ymd % 100
        )),
        _ => None,
    }
}

/// A real birth date (`YYYY-MM-DD`) at the start of `text` written as the card prints it
/// (`1974年4月11日`, or with spaces for the characters), and the text after it; `None` when
/// nothing follows it.
fn leading_date(text: &str) -> Option<(String, &str)> {
    let mut nums: Vec<u32> = Vec::with_capacity(3);
    let mut rest = text;
    for (i, max_len, marks) in [(0, 4, "年 "), (1, 2, "月 "), (2, 2, "日 ")] {
        let len = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if len == 0 || len > max_len || (i == 0 && len != 4) {
            return None;
        }
        nums.push(rest[..len].parse().ok()?);
        let after = &rest[len..];
        rest = after.trim_start_matches(|c: char| marks.contains(c));
        // Year and month end at a mark or a space.
        if i < 2 && rest.len() == after.len() {
            return None;
        }
    }
    let (y, m, d) = (nums[0], nums[1], nums[2]);
    ((1900..=2100).contains(&y) && check::real_date(y, m, d) && !rest.is_empty())
        .then(|| (format!("{y:04}-{m:02}-{d:02}"), rest))
}

/// The birth date (`YYYY-MM-DD`) in an ID-number reading of 17 or 18 characters whose
/// check may fail (a character misread elsewhere, or the 17 digits a copy cut short): the
/// digits at 7 to 14, when they form a real date ([`check::id_birth_date`]).
fn number_birth(number: &str) -> Option<String> {
    let n = number.trim();
    if !(17..=18).contains(&n.len()) || !n.is_ascii() {
        return None;
    }
    check::id_birth_date(n)
}

/// Whether what was read of a printed birth date (`1981年11`, `28日`, nothing) agrees with the
/// date `birth` (`YYYY-MM-DD`): the numbers read are, in order, some of its year, month and
/// day, and not all three.
fn agrees_in_part(read: &str, birth: &str) -> bool {
    let parts = numbers_in(birth);
    let nums = numbers_in(read);
    let mut next = parts.iter();
    nums.len() < 3 && nums.iter().all(|n| next.any(|p| p == n))
}

fn parse_front(engine: &Engine, card: &RgbImage, lines: &[Line]) -> Result<Front, OcrError> {
    let size = (card.width() as f32, card.height() as f32);
    let column_right = label_column_right(lines, size.0);
    let in_label_column = |l: &Line| l.quad[0].x < column_right;
    let mut values: Vec<(&'static str, Value)> = anchored(lines, FRONT_LABELS, in_label_column);
    let mut used: Vec<usize> = values.iter().flat_map(|(_, v)| v.lines.clone()).collect();
    // Labels themselves (also misread ones) are not values.
    for (i, l) in lines.iter().enumerate() {
        let t = compact(&l.text);
        let label_column = in_label_column(l);
        if FRONT_LABELS.iter().any(|(_, s)| {
            find_label(&t, s, label_column).is_some_and(|(a, b)| a == 0 && b == t.len())
        }) {
            used.push(i);
        }
    }
    for &(key, x0, y0, x1, y1) in FRONT_LAYOUT {
        if values.iter().all(|(k, _)| *k != key)
            && let Some(v) = in_layout(lines, &used, (x0, y0, x1, y1), size)
        {
            used.extend(v.lines.iter().copied());
            values.push((key, v));
        }
    }
    let get = |key: &str| {
        values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    let mut front = Front::default();
    let mut birth_from_address: Option<Field> = None;

    // Address: the value line plus the unlabelled lines below it, left-aligned with it, above
    // the number.
    if let Some(mut v) = get("address") {
        let number_y = get("id_number").map_or(size.1, |n| centre(&n.quad).y);
        let left = v.quad[0].x;
        let label_x = lines[v.lines[0]].quad[0].x;
        let mut bottom = v.quad[3].y;
        let mut extra: Vec<usize> = (0..lines.len())
            .filter(|i| !used.contains(i) && !v.lines.contains(i))
            .filter(|&i| {
                let q = &lines[i].quad;
                let cy = centre(q).y;
                cy > bottom
                    && cy < number_y - 0.5 * height(q)
                    && q[0].x > label_x.min(left) - 0.04 * size.0
                    && q[0].x < left + 0.08 * size.0
            })
            .collect();
        extra.sort_by(|&a, &b| {
            centre(&lines[a].quad)
                .y
                .total_cmp(&centre(&lines[b].quad).y)
        });
        for i in extra {
            let q = &lines[i].quad;
            if q[0].y - bottom > 1.5 * height(q) {
                break;
            }
            v.text.push_str(&compact(&lines[i].text));
            bottom = q[3].y;
            v.lines.push(i);
        }
        // A birth line taken for the address's first line (the 出生 label lost) leaves its
        // date at the front: it is the birth date, the rest the address.
        if let Some((date, rest)) = leading_date(&v.text)
            && get("birth_date").is_none_or(|b| birth_date(&b.text).is_none())
        {
            birth_from_address = Some(field(&v, date, Some(true), false));
            v.text = rest.to_string();
        }
        front.address = Some(field(&v, v.text.clone(), None, false));
    }
    if let Some(v) = get("name") {
        // Chinese characters, and the middle dot between the parts of a transcribed name
        // (阿依古丽·买买提); stray marks read beside the name (`•钱英`) go.
        let name: String = v.text.chars().filter(|&c| is_han(c) || c == '·').collect();
        let name = name.trim_matches('·').to_string();
        front.name = Some(field(&v, name, None, false));
    }
    if let Some(v) = get("ethnicity") {
        let text: String = v.text.chars().filter(|c| !"：:".contains(*c)).collect();
        // Two groups equally close (亿佬: 仡佬 or 仫佬): the value is read again with only the
        // characters of the 56 names allowed, and the recogniser decides between them. A value
        // near no group (a specimen's 肯尼亚) stays as read, invalid.
        let group = match normalize::ethnicity(&text) {
            Some(found) => Some(found),
            None => {
                let candidates = normalize::ethnic_candidates(&text);
                if candidates.len() > 1 {
                    let alphabet = normalize::ethnic_alphabet();
                    let reread = super::reread_quad(engine, card, &v.quad, &alphabet)?;
                    normalize::ethnicity(&reread.text)
                        .filter(|(g, _)| candidates.contains(g))
                        .map(|(g, _)| (g, true))
                } else {
                    None
                }
            }
        };
        front.ethnicity = Some(match group {
            Some((g, corrected)) => field(&v, g.to_string(), Some(true), corrected),
            None => field(&v, text, Some(false), false),
        });
    }
    let sex_value = get("sex");
    if let Some(v) = &sex_value {
        let sex = v.text.chars().find(|c| *c == '男' || *c == '女');
        front.sex = Some(match sex {
            Some(s) => field(v, s.to_string(), Some(true), false),
            None => field(v, v.text.clone(), Some(false), false),
        });
    }
    if let Some(v) = get("birth_date") {
        front.birth_date = Some(match birth_date(&v.text) {
            Some(d) => {
                let ok = d
                    .split('-')
                    .filter_map(|p| p.parse::<u32>().ok())
                    .collect::<Vec<_>>();
                let real = ok.len() == 3 && check::real_date(ok[0], ok[1], ok[2]);
                field(&v, d, Some(real), false)
            }
            None => field(&v, v.text.clone(), Some(false), false),
        });
    }
    if let Some(b) = birth_from_address {
        front.birth_date = Some(b);
    }
    // The number: the line holding the longest run of ID characters, re-read over that run
    // with the ID alphabet only.
    let number_line = (0..lines.len())
        .map(|i| (i, id_run(&lines[i].text).len()))
        .filter(|&(_, n)| n >= 15)
        .max_by_key(|&(_, n)| n)
        .map(|(i, _)| i);
    if let Some(i) = number_line {
        front.id_number = Some(read_id_number(engine, card, &lines[i])?);
    }
    cross_check(&mut front);
    Ok(front)
}

/// Where the front's label column ends (lines starting left of it may hold misread labels):
/// a fifth of the card in, or nearer when labels read in full show where the column starts,
/// 6% of the card past the leftmost of them. Values start about a fifth of the way in, so a
/// wrapped address line there (`民路38号`) is not taken for a misread 民族.
fn label_column_right(lines: &[Line], card_w: f32) -> f32 {
    let exact = lines
        .iter()
        .filter(|l| {
            let t = compact(&l.text);
            FRONT_LABELS
                .iter()
                .any(|(_, s)| find_label(&t, s, false).is_some_and(|(a, _)| a == 0))
        })
        .map(|l| l.quad[0].x)
        .min_by(f32::total_cmp);
    let fifth = 0.2 * card_w;
    exact.map_or(fifth, |x| fifth.min(x + 0.06 * card_w))
}

/// Whether `c` is a Chinese character (the unified ideographs, extension A and the
/// compatibility block).
fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}')
}

/// Cross-checks the birth date and sex against a valid ID number (and names the number's
/// province): a field that agrees is valid, one that did not read as a value takes the
/// number's (corrected), one that disagrees is invalid.
fn cross_check(front: &mut Front) {
    // A number that fails its check still carries the birth date: it completes a printed
    // date that read only in part (a stamp or glare over it) and agrees with what did read.
    // Not checked (`valid: false`), `corrected: true`.
    if let Some(number) = front.id_number.as_ref().filter(|f| f.valid != Some(true))
        && let Some(birth) = number_birth(&number.text)
        && let Some(b) = front.birth_date.as_mut()
        && b.valid != Some(true)
        && birth_date(&b.text).is_none()
        && agrees_in_part(&b.text, &birth)
    {
        b.text = birth;
        b.valid = Some(false);
        b.corrected = true;
    }
    if let Some(num) = front
        .id_number
        .as_ref()
        .filter(|f| f.valid == Some(true))
        .and_then(|f| check::id_number(&f.text))
    {
        front.province = Some(num.province);
        match &mut front.birth_date {
            Some(b) if b.text == num.birth => b.valid = Some(true),
            Some(b) if b.valid != Some(true) => {
                // The printed date did not read as a date: the number's is the same field.
                b.text = num.birth.clone();
                b.valid = Some(true);
                b.corrected = true;
            }
            Some(b) => b.valid = Some(false),
            None => {}
        }
        match &mut front.sex {
            Some(s) if s.text == num.sex => s.valid = Some(true),
            Some(s) if s.valid != Some(true) => {
                s.text = num.sex.to_string();
                s.valid = Some(true);
                s.corrected = true;
            }
            Some(s) => s.valid = Some(false),
            None => {}
        }
    }
}

/// Re-reads the number over the span of its characters with the ID alphabet, then checks it
/// (repairing one unsure character from second choices when the check character fails).
fn read_id_number(engine: &Engine, card: &RgbImage, line: &Line) -> Result<Field, OcrError> {
    let (start, run) = longest_run(&line.text, ID_ALPHABET);
    let (reread, quad) =
        super::reread_span(engine, card, line, start, run.chars().count(), ID_ALPHABET)?;
    let (text, from) = if reread.text.len() == 18 || run.len() != 18 {
        (reread.text.clone(), &reread)
    } else {
        (run.clone(), line)
    };
    let mut f = Field {
        valid: Some(check::id_number(&text).is_some()),
        text,
        confidence: from.confidence,
        quad: Some(quad),
        corrected: false,
        recognizer: "general",
    };
    if f.valid == Some(false)
        && f.text.len() == 18
        && let Some(fixed) =
            super::repair_with_alternatives(&from.chars, ID_ALPHABET, 4, 0.0, f32::INFINITY, |s| {
                check::id_number(s).is_some()
            })
    {
        f.text = fixed;
        f.valid = Some(true);
        f.corrected = true;
    }
    Ok(f)
}

/// `YYYY.MM.DD` dates and `长期` in a validity line, in order: the digits are taken eight at
/// a time, whatever separators were read between them (`2004.0325-2024:0325`).
fn validity(text: &str) -> Vec<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let mut out: Vec<String> = digits
        .as_bytes()
        .chunks(8)
        .filter(|c| c.len() == 8)
        .take(2)
        .map(|c| {
            let c = std::str::from_utf8(c).unwrap_or("00000000");
            format!("{}.{}.{}", &c[0..4], &c[4..6], &c[6..8])
        })
        .collect();
    if out.len() < 2 && text.contains("长期") {
        out.push("长期".to_string());
    }
    out
}

fn date_parts(d: &str) -> Option<(u32, u32, u32)> {
    let p: Vec<u32> = d.split('.').filter_map(|s| s.parse().ok()).collect();
    (p.len() == 3 && check::real_date(p[0], p[1], p[2])).then(|| (p[0], p[1], p[2]))
}

/// The line naming a public security bureau, without what was read of its label.
fn unlabelled_authority(lines: &[Line]) -> Option<Value> {
    // What may be read of the label: two or more of its characters in a row.
    let label: Vec<char> = "签发机关".chars().collect();
    let remnants: Vec<String> = (0..label.len())
        .flat_map(|a| (a + 2..=label.len()).map(move |b| (a, b)))
        .map(|(a, b)| label[a..b].iter().collect())
        .collect();
    lines.iter().enumerate().find_map(|(i, l)| {
        let text = compact(&l.text);
        let bureau = text.ends_with('局') && text.contains("公安");
        let remnant = remnants
            .iter()
            .filter(|r| text.starts_with(r.as_str()))
            .max_by_key(|r| r.len());
        let value = text[remnant.map_or(0, |r| r.len())..].to_string();
        (bureau && value.chars().count() >= 4).then(|| Value {
            text: value,
            confidence: l.confidence,
            quad: l.quad,
            lines: vec![i],
        })
    })
}

fn parse_back(lines: &[Line], card_w: f32) -> Back {
    let values = anchored(lines, BACK_LABELS, |l| l.quad[0].x < 0.2 * card_w);
    let mut back = Back::default();
    let get = |key: &str| {
        values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    if let Some(v) = get("authority") {
        back.authority = Some(field(&v, v.text.clone(), None, false));
    } else if let Some(v) = unlabelled_authority(lines) {
        back.unlabelled_authority = Some(field(&v, v.text.clone(), None, false));
    }
    // The validity line: the labelled value, or any line with two dates.
    let v = get("validity").or_else(|| {
        lines
            .iter()
            .enumerate()
            .find(|(_, l)| validity(&l.text).len() == 2)
            .map(|(i, l)| Value {
                text: compact(&l.text),
                confidence: l.confidence,
                quad: l.quad,
                lines: vec![i],
            })
    });
    if let Some(v) = v {
        let dates = validity(&v.text);
        let from = dates.first().cloned();
        let to = dates.get(1).cloned();
        let from_parts = from.as_deref().and_then(date_parts);
        if let Some(f) = &from {
            back.valid_from = Some(field(&v, f.clone(), Some(from_parts.is_some()), false));
        }
        if let Some(t) = &to {
            // Valid periods run 5, 10 or 20 years to the same day, or are 长期.
            let ok = t == "长期"
                || match (from_parts, date_parts(t)) {
                    (Some((y0, m0, d0)), Some((y1, m1, d1))) => {
                        [5, 10, 20].contains(&(y1.saturating_sub(y0))) && (m0, d0) == (m1, d1)
                    }
                    _ => false,
                };
            back.valid_to = Some(field(&v, t.clone(), Some(ok), false));
        }
    }
    back
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_core::ocr::Point;

    fn line(text: &str, x: f32, y: f32, w: f32) -> Line {
        let q = [
            Point::new(x, y),
            Point::new(x + w, y),
            Point::new(x + w, y + 30.0),
            Point::new(x, y + 30.0),
        ];
        Line {
            text: text.into(),
            confidence: 0.95,
            quad: q,
            angle: 0,
            chars: Vec::new(),
        }
    }

    #[test]
    fn specks_between_a_label_and_its_value_go() {
        let mut speck = line("家", 104.0, 272.0, 17.0);
        for p in &mut speck.quad[2..] {
            p.y = 283.0;
        }
        let mut small_print = line("有效期限2012.10.17", 30.0, 400.0, 300.0);
        for p in &mut small_print.quad[2..] {
            p.y = 412.0;
        }
        let lines = vec![
            line("住址", 31.0, 266.0, 73.0),
            speck,
            line("辽宁省昆明市长安区文化", 135.0, 263.0, 284.0),
            line("路", 132.0, 307.0, 29.0),
            small_print,
        ];
        let kept: Vec<String> = without_specks(lines).into_iter().map(|l| l.text).collect();
        assert_eq!(
            kept,
            ["住址", "辽宁省昆明市长安区文化", "路", "有效期限2012.10.17"]
        );
    }

    #[test]
    fn anchors_split_labels_and_values() {
        let lines = vec![
            line("姓名 韦小宝", 60.0, 40.0, 200.0),
            line("性别", 60.0, 120.0, 60.0),
            line("男", 150.0, 122.0, 30.0),
            line("民族汉", 250.0, 120.0, 90.0),
        ];
        let v = anchored(&lines, FRONT_LABELS, |l| l.quad[0].x < 0.2 * 856.0);
        let get = |k: &str| v.iter().find(|(key, _)| *key == k).unwrap().1.text.clone();
        assert_eq!(get("name"), "韦小宝");
        assert_eq!(get("sex"), "男");
        assert_eq!(get("ethnicity"), "汉");
    }

    #[test]
    fn a_wrapped_address_line_is_not_a_misread_label() {
        // Generated card 9101/00190: the address wraps to `民路38号`, starting where values
        // start (157 of 856), inside a fifth of the card; one character of 民族 in place made it
        // a misread label, and the address lost it.
        let lines = vec![
            line("姓名陶宁静", 56.0, 61.0, 190.0),
            line("性别男", 57.0, 130.0, 129.0),
            line("民族汉", 285.0, 131.0, 131.0),
            line("住址", 58.0, 272.0, 86.0),
            line("黑龙江省株洲市江宁区人", 161.0, 273.0, 284.0),
            line("民路38号", 157.0, 311.0, 114.0),
        ];
        let right = label_column_right(&lines, 856.0);
        assert!((right - (56.0 + 0.06 * 856.0)).abs() < 1e-3, "{right}");
        let v = anchored(&lines, FRONT_LABELS, |l| l.quad[0].x < right);
        assert!(v.iter().all(|(_, value)| !value.lines.contains(&5)));
        let with_fifth = anchored(&lines, FRONT_LABELS, |l| l.quad[0].x < 0.2 * 856.0);
        assert!(with_fifth.iter().any(|(_, value)| value.lines.contains(&5)));
        // No label read in full: a fifth of the card.
        assert_eq!(label_column_right(&lines[4..], 856.0), 0.2 * 856.0);
    }

    #[test]
    fn dates_and_validity() {
        assert_eq!(birth_date("1974年4月11日").as_deref(), Some("1974-04-11"));
        assert_eq!(birth_date("19740411").as_deref(), Some("1974-04-11"));
        assert_eq!(
            leading_date("1974年4月11日山东省德州市"),
            Some(("1974-04-11".to_string(), "山东省德州市"))
        );
        assert_eq!(
            leading_date("1974 4 11 山东省"),
            Some(("1974-04-11".to_string(), "山东省"))
        );
        for not_leading in [
            "1974年4月11日",
            "山东省1974年",
            "1974年2月30日山东",
            "197404山东",
        ] {
            assert_eq!(leading_date(not_leading), None, "{not_leading}");
        }
        assert_eq!(
            number_birth("37148119740411134").as_deref(),
            Some("1974-04-11")
        );
        assert_eq!(
            number_birth("51142119750320250X").as_deref(),
            Some("1975-03-20")
        );
        assert_eq!(number_birth("371481197413111349"), None);
        assert_eq!(number_birth("3714811974"), None);
        assert!(agrees_in_part("1981年11", "1981-11-24"));
        assert!(agrees_in_part("月 28日", "1996-08-28"));
        assert!(agrees_in_part("别京印止", "1996-08-28"));
        assert!(!agrees_in_part("1981年12", "1981-11-24"));
        assert!(!agrees_in_part("11 1981", "1981-11-24"));
        assert!(!agrees_in_part("1981 11 24", "1981-11-24"));
        assert_eq!(
            validity("2012.10.17-2032.10.17"),
            ["2012.10.17", "2032.10.17"]
        );
        assert_eq!(validity("有效期限2017.03.28-长期"), ["2017.03.28", "长期"]);
        let back = parse_back(
            &[
                line("签发机关 德州市乐陵市公安局", 100.0, 380.0, 500.0),
                line("有效期限 2012.10.17-2032.10.17", 100.0, 450.0, 500.0),
            ],
            856.0,
        );
        assert_eq!(back.authority.unwrap().text, "德州市乐陵市公安局");
        assert_eq!(back.valid_to.as_ref().unwrap().valid, Some(true));
        // The label covered (a stamp over it, as on the dev set's back photos): the line
        // naming a bureau is kept as the authority's stand-in (used when no reading of the
        // card finds the label), with what was read of the label dropped.
        for (read, want) in [
            ("南充市南部县公安局", "南充市南部县公安局"),
            ("机关 南充市南部县公安局", "南充市南部县公安局"),
            ("发机 北京市公安局朝阳分局", "北京市公安局朝阳分局"),
            ("关岭布依族苗族自治县公安局", "关岭布依族苗族自治县公安局"),
        ] {
            let back = parse_back(
                &[
                    line(read, 100.0, 380.0, 500.0),
                    line("有效期限 2010.04.16-2015.04.16", 100.0, 450.0, 500.0),
                ],
                856.0,
            );
            assert!(back.authority.is_none(), "{read}");
            assert_eq!(back.unlabelled_authority.unwrap().text, want, "{read}");
        }
        // Nothing naming a bureau: no authority.
        let back = parse_back(
            &[line("有效期限 2010.04.16-2015.04.16", 100.0, 450.0, 500.0)],
            856.0,
        );
        assert!(back.authority.is_none() && back.unlabelled_authority.is_none());
        assert_eq!(
            id_run("公民身份号码11204416541220243x"),
            "11204416541220243X"
        );
    }
}
