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
use ocr_core::ocr::{Engine, Line, OcrError, Point, Quad};
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

field_list!(Waybill {
    "carrier" => carrier,
    "tracking_number" => tracking_number,
    "sender_name" => sender_name,
    "sender_phone" => sender_phone,
    "sender_address" => sender_address,
    "recipient_name" => recipient_name,
    "recipient_phone" => recipient_phone,
    "recipient_address" => recipient_address,
    "routing_code" => routing_code,
});

/// Label spellings. `recipient` and `sender` labels open a party's block; the unqualified
/// `address` and `phone` belong to the block they are in. (`订单号`, an order number, is not a
/// tracking number.)
const LABELS: &[(&str, &[&str])] = &[
    ("recipient", &["收件人", "收货人", "收件方"]),
    ("sender", &["寄件人", "发件人", "寄件方"]),
    ("recipient_address", &["收件地址", "收货地址"]),
    ("sender_address", &["寄件地址", "发件地址"]),
    (
        "tracking_number",
        &["运单号", "运单编号", "快递单号", "邮件号"],
    ),
    // Not fields, but labels that look like ours when misread (订单号 and 运单号).
    ("order_number", &["订单号", "订单编号", "订单ID"]),
    ("routing_code", &["三段码", "大头笔"]),
    ("address", &["地址"]),
    ("phone", &["电话", "手机"]),
];

/// Short carrier names: a line holding one names the carrier.
const CARRIERS: &[&str] = &[
    "顺丰", "中通", "圆通", "韵达", "申通", "京东", "EMS", "邮政", "极兔", "德邦", "百世",
];
/// Carriers' full names: a short line one character away from one is that carrier misread.
const CARRIER_NAMES: &[&str] = &[
    "顺丰速运",
    "中通快递",
    "圆通速递",
    "韵达快递",
    "申通快递",
    "京东物流",
    "中国邮政",
    "极兔速递",
    "德邦快递",
    "百世快递",
];

/// The carrier a line names: the line itself when it holds a short name, else the full name
/// it is one character away from (corrected).
fn carrier_of(text: &str) -> Option<(String, bool)> {
    if CARRIERS.iter().any(|c| text.contains(c)) {
        return Some((text.to_string(), false));
    }
    let t: Vec<char> = text.chars().collect();
    if t.len() > 6 {
        return None;
    }
    CARRIER_NAMES
        .iter()
        .find(|n| crate::eval::metrics::edit_distance(&t, &n.chars().collect::<Vec<_>>()) <= 1)
        .map(|n| (n.to_string(), true))
}

/// A tracking number that fails its format with letters and digits mixed up (`E0847510167CN`
/// for `EO847510167CN`): the same characters coerced to letters where the format has letters
/// and digits where it has digits, if that passes.
fn coerce_tracking(t: &str) -> Option<String> {
    let to_digit = |c: char| match c {
        'O' | 'D' | 'Q' => '0',
        'I' | 'L' => '1',
        'Z' => '2',
        'S' => '5',
        'G' => '6',
        'B' => '8',
        c => c,
    };
    let to_letter = |c: char| match c {
        '0' => 'O',
        '1' => 'I',
        '2' => 'Z',
        '5' => 'S',
        '6' => 'G',
        '8' => 'B',
        c => c,
    };
    let chars: Vec<char> = t.chars().collect();
    let n = chars.len();
    let shapes: [&dyn Fn(usize) -> bool; 2] = [
        // S10: two letters, nine digits, two letters.
        &|i| !(2..11).contains(&i),
        // Carrier prefix: two letters, then digits.
        &|i| i < 2,
    ];
    shapes.iter().find_map(|letter_at| {
        let c: String = (0..n)
            .map(|i| {
                if letter_at(i) {
                    to_letter(chars[i])
                } else {
                    to_digit(chars[i])
                }
            })
            .collect();
        (c != t && check::tracking_number(&c).is_some()).then_some(c)
    })
}

/// Reads a waybill in a photo (or, with `crop`, an image that is the waybill).
pub fn read(engine: &Engine, img: &RgbImage, crop: bool) -> Result<Waybill, OcrError> {
    super::read_paper(
        engine,
        img,
        crop,
        WAYBILL_SIZE,
        |doc, lines| {
            let mut out = parse(lines, doc.image.width() as f32);
            out.quad = Some(doc.quad);
            out.turned = doc.turned;
            for f in out.slots_mut() {
                super::to_photo(f, doc);
            }
            Ok(out)
        },
        |d| d.fields().len(),
    )
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
    if let Some((i, (name, corrected))) = texts
        .iter()
        .enumerate()
        .find_map(|(i, t)| carrier_of(t).map(|c| (i, c)))
    {
        let mut f = Field::from_line(&lines[i], Some(true), "general");
        f.text = name;
        f.corrected = corrected;
        // A logo name followed by the service's name (`EMS` / `经济快递`) is one carrier name.
        if let Some(next) = texts.get(i + 1)
            && next.chars().count() <= 6
            && ["快递", "速递", "快运", "物流"]
                .iter()
                .any(|s| next.ends_with(s))
            && (centre(&lines[i + 1].quad).y - centre(&lines[i].quad).y).abs()
                < 2.5 * height(&lines[i].quad).max(height(&lines[i + 1].quad))
            && !f.text.contains(next.as_str())
        {
            f.text.push_str(next);
        }
        out.carrier = Some(f);
    }
    let mut values = anchored(lines, LABELS, |l| l.quad[0].x < 0.25 * doc_w);
    // The decoy labels only keep misreadings off the real ones; their values are nobody's.
    values.retain(|(k, _)| *k != "order_number");
    let mut used: Vec<usize> = values.iter().flat_map(|(_, v)| v.lines.clone()).collect();
    for (i, t) in texts.iter().enumerate() {
        if LABELS
            .iter()
            .any(|(_, s)| s.iter().any(|s| t.starts_with(s)))
        {
            used.push(i);
        }
    }
    // Party blocks: each 收件人 / 寄件人 label opens one, down to the next in its column (a
    // waybill may carry a second, narrower copy beside the main one).
    let blocks: Vec<(Point, &str)> = values
        .iter()
        .filter(|(k, _)| matches!(*k, "recipient" | "sender"))
        .map(|(k, v)| (lines[v.lines[0]].quad[0], *k))
        .collect();
    let party_at = |p: Point| {
        blocks
            .iter()
            .filter(|(top, _)| top.y <= p.y + 2.0 && (top.x - p.x).abs() < 0.2 * doc_w)
            .max_by(|a, b| a.0.y.total_cmp(&b.0.y))
            .map(|(_, k)| *k)
    };
    for (key, v) in values.iter_mut() {
        v.text = strip_colon(&v.text);
        if key.ends_with("address") {
            let x0 = lines[v.lines[0]].quad[0].x;
            let h = height(&v.quad).max(8.0);
            continue_down(
                lines,
                &mut used,
                v,
                (x0 - 3.0 * h, v.quad[0].x + 3.0 * h),
                true,
            );
        }
        // Unqualified address / phone labels take the party of their block.
        let party = party_at(lines[v.lines[0]].quad[0]);
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
        let (t, corrected) = match check::tracking_number(&t) {
            None => coerce_tracking(&t).map_or((t, false), |c| (c, true)),
            Some(_) => (t, false),
        };
        let format = check::tracking_number(&t);
        let carrier_ok = match (&out.carrier, format) {
            (Some(c), Some(f)) => check::carrier_formats(&c.text).is_none_or(|fs| fs.contains(&f)),
            _ => true,
        };
        out.tracking_number = Some(field(
            &v,
            t,
            Some(format.is_some() && carrier_ok),
            corrected,
        ));
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
    fn carriers_and_misread_tracking_numbers() {
        assert_eq!(
            carrier_of("EMS经济快递"),
            Some(("EMS经济快递".into(), false))
        );
        assert_eq!(carrier_of("极免速递"), Some(("极兔速递".into(), true)));
        assert_eq!(carrier_of("收件人：张三"), None);
        assert_eq!(
            coerce_tracking("E0847510167CN").as_deref(),
            Some("EO847510167CN")
        );
        assert_eq!(
            coerce_tracking("5F1234567890123").as_deref(),
            Some("SF1234567890123")
        );
        assert_eq!(coerce_tracking("SF12345"), None);
    }

    #[test]
    fn arbitrary_text_never_panics() {
        use ocr_core::ocr::Point;
        let pieces = [
            "收件人",
            "寄件人：",
            "地址",
            "电话：",
            "运单号",
            "订单ID：",
            "SF",
            "EMS",
            "极免速递",
            "１２３",
            "138****5678",
            "-",
            "：",
            "上海市",
            "自治区",
            "é",
            "🙂",
            "021-",
            "7",
            "区",
            "州市",
            "",
        ];
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..300 {
            let lines: Vec<Line> = (0..next(12))
                .map(|i| {
                    let text: String = (0..next(6)).map(|_| pieces[next(pieces.len())]).collect();
                    let (x, y) = (next(900) as f32, 30.0 * i as f32);
                    Line {
                        text,
                        confidence: 0.9,
                        quad: [
                            Point::new(x, y),
                            Point::new(x + 200.0, y),
                            Point::new(x + 200.0, y + 28.0),
                            Point::new(x, y + 28.0),
                        ],
                        angle: 0,
                        chars: vec![],
                    }
                })
                .collect();
            let w = parse(&lines, 1100.0);
            for (_, f) in w.fields() {
                let _ = (split_region(&f.text), name_and_phone(&f.text));
                let _ = (check::tracking_number(&f.text), coerce_tracking(&f.text));
            }
        }
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
