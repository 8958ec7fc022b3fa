//! Express waybills (快递面单): carrier, tracking number, sender and recipient (name, phone,
//! address split into province / city / district), routing code.
//!
//! Stages: locate the label in the photo and warp it upright -> read it (turned over when it
//! reads upside down) -> carrier by name -> fields by key anchors (收件人 / 寄件人 lines hold
//! the name and the phone; 地址 values continue over the wrapped lines below; an unqualified
//! 地址 or 电话 belongs to the party whose block it is in) -> tracking number checked against
//! the carrier's formats -> routing code by its shape.

use super::anchor::{Value, anchored, compact, continue_down, field, strip_colon};
use super::locate::{centre, height};
use super::{Field, check};
use image::RgbImage;
use ocr_core::ocr::{Engine, Line, OcrError, Quad};
use serde::Serialize;

/// The canonical size a waybill is warped to (landscape label).
pub const WAYBILL_SIZE: (u32, u32) = (1100, 760);

/// An address split into its administrative parts, where they can be told.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Region {
    /// Province (or autonomous region; for Beijing, Shanghai, Tianjin and Chongqing the
    /// municipality).
    pub province: Option<String>,
    /// City (prefecture level).
    pub city: Option<String>,
    /// District or county.
    pub district: Option<String>,
}

/// A waybill's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Waybill {
    /// The waybill's corners in the photo.
    #[serde(rename = "box")]
    pub quad: Option<Quad>,
    /// Whether it was read upside down and turned.
    pub turned: bool,
    /// Carrier, as printed; `valid` when it is a carrier we know.
    pub carrier: Option<Field>,
    /// Tracking number; `valid` when it has a known format (and the carrier's, if known).
    pub tracking_number: Option<Field>,
    /// Sender's name.
    pub sender_name: Option<Field>,
    /// Sender's phone (mobile, masked mobile or landline).
    pub sender_phone: Option<Field>,
    /// Sender's address.
    pub sender_address: Option<Field>,
    /// The sender's address split.
    pub sender_region: Option<Region>,
    /// Recipient's name.
    pub recipient_name: Option<Field>,
    /// Recipient's phone.
    pub recipient_phone: Option<Field>,
    /// Recipient's address.
    pub recipient_address: Option<Field>,
    /// The recipient's address split.
    pub recipient_region: Option<Region>,
    /// Routing code (三段码 / 大头笔).
    pub routing_code: Option<Field>,
}

impl Waybill {
    /// The fields that were found, by the dev manifests' standard names.
    pub fn fields(&self) -> Vec<(&'static str, &Field)> {
        [
            ("carrier", &self.carrier),
            ("tracking_number", &self.tracking_number),
            ("sender_name", &self.sender_name),
            ("sender_phone", &self.sender_phone),
            ("sender_address", &self.sender_address),
            ("recipient_name", &self.recipient_name),
            ("recipient_phone", &self.recipient_phone),
            ("recipient_address", &self.recipient_address),
            ("routing_code", &self.routing_code),
        ]
        .into_iter()
        .filter_map(|(k, f)| f.as_ref().map(|f| (k, f)))
        .collect()
    }
}

/// Label spellings. `party_*` labels open a party's block; the unqualified ones belong to the
/// block they are in.
const LABELS: &[(&str, &[&str])] = &[
    ("recipient", &["收件人", "收货人", "收件方"]),
    ("sender", &["寄件人", "发件人", "寄件方"]),
    ("recipient_address", &["收件地址", "收货地址"]),
    ("sender_address", &["寄件地址", "发件地址"]),
    (
        "tracking_number",
        &["运单号", "运单编号", "快递单号", "单号"],
    ),
    ("routing_code", &["三段码", "大头笔"]),
    ("address", &["地址"]),
    ("phone", &["电话", "手机"]),
];

/// Carrier names and aliases as printed (the first is the name we report when only an alias
/// was read).
const CARRIERS: &[&str] = &[
    "顺丰", "中通", "圆通", "韵达", "申通", "京东", "EMS", "邮政", "极兔", "德邦", "百世",
];

/// Reads a waybill in a photo (or, with `crop`, an image that is the waybill).
pub fn read(engine: &Engine, img: &RgbImage, crop: bool) -> Result<Waybill, OcrError> {
    let aspect = WAYBILL_SIZE.0 as f32 / WAYBILL_SIZE.1 as f32;
    let mut doc = super::locate_document(img, aspect, WAYBILL_SIZE, crop);
    let page = super::read_upright(engine, &mut doc)?;
    let mut out = parse(&page.lines, doc.image.width() as f32);
    out.quad = Some(doc.quad);
    out.turned = doc.turned;
    for f in [
        &mut out.carrier,
        &mut out.tracking_number,
        &mut out.sender_name,
        &mut out.sender_phone,
        &mut out.sender_address,
        &mut out.recipient_name,
        &mut out.recipient_phone,
        &mut out.recipient_address,
        &mut out.routing_code,
    ] {
        super::to_photo(f, &doc);
    }
    Ok(out)
}

/// Splits `name 13812345678` (or `name 138****5678`, `name 021-62751234`) into the name and
/// the phone: the longest run of phone characters that passes the phone check.
pub fn name_and_phone(text: &str) -> (String, Option<String>) {
    let chars: Vec<char> = text.chars().collect();
    let phone_char = |c: char| c.is_ascii_digit() || c == '*' || c == '-' || c == '+';
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < chars.len() {
        if phone_char(chars[i]) {
            let j = (i..chars.len())
                .find(|&j| !phone_char(chars[j]))
                .unwrap_or(chars.len());
            let run: String = chars[i..j].iter().collect();
            if check::phone(&run) && best.is_none_or(|(a, b)| j - i > b - a) {
                best = Some((i, j));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    let name_of = |s: &[char]| -> String {
        s.iter()
            .filter(|c| !c.is_ascii_digit() && !"：:*-+，,、 ".contains(**c))
            .collect()
    };
    match best {
        Some((a, b)) => {
            let mut name = name_of(&chars[..a]);
            name.push_str(&name_of(&chars[b..]));
            (name, Some(chars[a..b].iter().collect()))
        }
        None => (name_of(&chars), None),
    }
}

/// Splits an address into province, city and district by their suffixes (省 / 自治区 /
/// municipality, 市 / 州 / 盟 / 地区, 区 / 县 / 市 / 旗).
pub fn split_region(address: &str) -> Region {
    const MUNICIPALITIES: [&str; 4] = ["北京市", "上海市", "天津市", "重庆市"];
    let mut rest = address.trim();
    let mut region = Region::default();
    // A municipality may be written twice (`上海 上海市`) or stand for both levels.
    for m in MUNICIPALITIES {
        let short = m.trim_end_matches('市');
        if rest.starts_with(short) {
            region.province = Some(m.to_string());
            region.city = Some(m.to_string());
            rest = rest
                .strip_prefix(m)
                .or(rest.strip_prefix(short))
                .unwrap_or(rest);
            rest = rest.trim_start();
            rest = rest.strip_prefix(m).unwrap_or(rest).trim_start();
            break;
        }
    }
    let take = |rest: &mut &str, suffixes: &[&str], max_chars: usize| -> Option<String> {
        let (pos, suf) = suffixes
            .iter()
            .filter_map(|s| rest.find(s).map(|p| (p, *s)))
            .min_by_key(|(p, _)| *p)?;
        // `苏州市`: the 州 is part of the name when 市 follows.
        let end = pos + suf.len();
        let end = if suf == "州" && rest[end..].starts_with('市') {
            end + '市'.len_utf8()
        } else {
            end
        };
        let part = &rest[..end];
        if part.chars().count() > max_chars || part.chars().count() < 2 {
            return None;
        }
        *rest = rest[end..].trim_start();
        Some(part.to_string())
    };
    if region.province.is_none() {
        region.province = take(&mut rest, &["自治区", "省"], 8);
        region.city = take(&mut rest, &["自治州", "地区", "市", "州", "盟"], 8);
    }
    region.district = take(&mut rest, &["新区", "区", "县", "市", "旗"], 8);
    region
}

/// A routing code: digits, letters and dashes in the shape carriers print (`755W-021-05`,
/// `021-PD-05`): 2-4 groups, the first starting with digits.
fn is_routing_code(t: &str) -> bool {
    let groups: Vec<&str> = t.split('-').collect();
    (2..=4).contains(&groups.len())
        && groups[0].starts_with(|c: char| c.is_ascii_digit())
        && groups.iter().all(|g| {
            (1..=5).contains(&g.len())
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        })
        && !check::phone(t)
        && !looks_like_date(&groups)
}

/// `2014-8-8`: a year, a month and a day.
fn looks_like_date(groups: &[&str]) -> bool {
    let nums: Vec<u32> = groups.iter().filter_map(|g| g.parse().ok()).collect();
    nums.len() == 3
        && groups[0].len() == 4
        && (1..=12).contains(&nums[1])
        && (1..=31).contains(&nums[2])
}

fn parse(lines: &[Line], doc_w: f32) -> Waybill {
    let texts: Vec<String> = lines.iter().map(|l| compact(&l.text)).collect();
    let mut out = Waybill::default();
    // Carrier: the first line naming one.
    if let Some(i) = texts
        .iter()
        .position(|t| CARRIERS.iter().any(|c| t.contains(c)))
    {
        out.carrier = Some(Field::from_line(&lines[i], Some(true), "general"));
        if let Some(f) = &mut out.carrier {
            f.text = texts[i].clone();
        }
    }
    let mut values = anchored(lines, LABELS, |l| l.quad[0].x < 0.25 * doc_w);
    let mut used: Vec<usize> = values.iter().flat_map(|(_, v)| v.lines.clone()).collect();
    for (i, t) in texts.iter().enumerate() {
        if LABELS
            .iter()
            .any(|(_, s)| s.iter().any(|s| t.starts_with(s)))
        {
            used.push(i);
        }
    }
    // Party blocks: each 收件人 / 寄件人 label opens one, down to the next.
    let mut blocks: Vec<(f32, &str)> = values
        .iter()
        .filter(|(k, _)| matches!(*k, "recipient" | "sender"))
        .map(|(k, v)| (v.quad[0].y - 0.5 * height(&v.quad), *k))
        .collect();
    blocks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let party_at = |y: f32| {
        blocks
            .iter()
            .rev()
            .find(|(top, _)| *top <= y)
            .map(|(_, k)| *k)
    };
    for (key, v) in values.iter_mut() {
        v.text = strip_colon(&v.text);
        if key.ends_with("address") {
            let x0 = lines[v.lines[0]].quad[0].x;
            let h = height(&v.quad).max(8.0);
            continue_down(lines, &mut used, v, (x0 - 2.0 * h, v.quad[0].x + 2.0 * h));
        }
        // Unqualified address / phone labels take the party of their block.
        let party = party_at(centre(&v.quad).y);
        *key = match (*key, party) {
            ("address", Some("recipient")) => "recipient_address",
            ("address", Some("sender")) => "sender_address",
            ("phone", Some("recipient")) => "recipient_phone",
            ("phone", Some("sender")) => "sender_phone",
            (k, _) => k,
        };
    }
    let get = |key: &str| -> Option<Value> {
        values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    let phone_field =
        |v: &Value, text: String| field(v, text.clone(), Some(check::phone(&text)), false);
    for (party, name, phone) in [
        (
            "recipient",
            &mut out.recipient_name,
            &mut out.recipient_phone,
        ),
        ("sender", &mut out.sender_name, &mut out.sender_phone),
    ] {
        if let Some(v) = get(party) {
            let (n, p) = name_and_phone(&v.text);
            *name = Some(field(&v, n, None, false));
            if let Some(p) = p {
                *phone = Some(phone_field(&v, p));
            }
        }
        if let Some(v) = get(&format!("{party}_phone")) {
            let p = name_and_phone(&v.text).1.unwrap_or(v.text.clone());
            *phone = Some(phone_field(&v, p));
        }
    }
    if let Some(v) = get("recipient_address") {
        out.recipient_region = Some(split_region(&v.text));
        out.recipient_address = Some(field(&v, v.text.clone(), None, false));
    }
    if let Some(v) = get("sender_address") {
        out.sender_region = Some(split_region(&v.text));
        out.sender_address = Some(field(&v, v.text.clone(), None, false));
    }
    // Tracking number: the labelled value, else the line that is one.
    let tracking = get("tracking_number").map(|v| {
        let t: String = v.text.chars().filter(|c| !c.is_whitespace()).collect();
        (v, t.to_ascii_uppercase())
    });
    let tracking = tracking.or_else(|| {
        (0..lines.len())
            .find(|&i| check::tracking_number(&texts[i]).is_some())
            .map(|i| {
                let v = Value {
                    text: texts[i].clone(),
                    confidence: lines[i].confidence,
                    quad: lines[i].quad,
                    lines: vec![i],
                };
                (v, texts[i].to_ascii_uppercase())
            })
    });
    if let Some((v, t)) = tracking {
        let format = check::tracking_number(&t);
        let carrier_ok = match (&out.carrier, format) {
            (Some(c), Some(f)) => check::carrier_formats(&c.text).is_none_or(|fs| fs.contains(&f)),
            _ => true,
        };
        out.tracking_number = Some(field(&v, t, Some(format.is_some() && carrier_ok), false));
    }
    // Routing code: the labelled value, else the tallest line shaped like one.
    out.routing_code = get("routing_code")
        .map(|v| field(&v, v.text.clone(), Some(is_routing_code(&v.text)), false))
        .or_else(|| {
            (0..lines.len())
                .filter(|&i| is_routing_code(&texts[i]))
                .max_by(|&a, &b| height(&lines[a].quad).total_cmp(&height(&lines[b].quad)))
                .map(|i| {
                    let mut f = Field::from_line(&lines[i], Some(true), "general");
                    f.text = texts[i].clone();
                    f
                })
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_phones_split() {
        assert_eq!(
            name_and_phone("张小姐18913383688"),
            ("张小姐".into(), Some("18913383688".into()))
        );
        assert_eq!(
            name_and_phone("：高云 173****2092"),
            ("高云".into(), Some("173****2092".into()))
        );
        assert_eq!(
            name_and_phone("李四 021-62751234"),
            ("李四".into(), Some("021-62751234".into()))
        );
        assert_eq!(name_and_phone("王五"), ("王五".into(), None));
    }

    #[test]
    fn regions_split() {
        let r = split_region("江苏省苏州市吴中区星湖街328号");
        assert_eq!(r.province.as_deref(), Some("江苏省"));
        assert_eq!(r.city.as_deref(), Some("苏州市"));
        assert_eq!(r.district.as_deref(), Some("吴中区"));
        let r = split_region("上海 上海市 浦东新区 上海浦东新区崂山路300号");
        assert_eq!(r.province.as_deref(), Some("上海市"));
        assert_eq!(r.city.as_deref(), Some("上海市"));
        assert_eq!(r.district.as_deref(), Some("浦东新区"));
        let r = split_region("广西壮族自治区南宁市青秀区民族大道1号");
        assert_eq!(r.province.as_deref(), Some("广西壮族自治区"));
        assert_eq!(r.city.as_deref(), Some("南宁市"));
        assert_eq!(r.district.as_deref(), Some("青秀区"));
    }

    #[test]
    fn routing_codes() {
        for ok in ["755W-021-05", "021-PD-05", "665Y-175-50"] {
            assert!(is_routing_code(ok), "{ok}");
        }
        for bad in ["021-62751234", "运单号", "SF1234567890123", "2014-8-8"] {
            assert!(!is_routing_code(bad), "{bad}");
        }
    }
}
