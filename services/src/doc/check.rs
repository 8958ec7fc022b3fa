//! Field validators for the document pipelines: check digits and formats from the public
//! standards (ISO/IEC 7812 Luhn, GB 11643-1999, GB 32100-2015, ISO 3779, UPU S10) and the
//! shapes of Chinese plates, phone numbers and card expiry dates.
//!
//! Each function takes the field as read (after the caller removed spaces where the format has
//! none) and answers whether it is valid; the check-character functions return the character
//! the standard computes, so a pipeline can also repair one unsure character.

/// Digits of `s`, or `None` if any character is not an ASCII digit.
fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars().map(|c| c.to_digit(10)).collect()
}

/// ISO/IEC 7812 (Luhn) check of a card number: 13 to 19 digits, spaces allowed between groups.
pub fn bank_card_number(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    if digits(&compact).is_none() || !(13..=19).contains(&compact.len()) {
        return false;
    }
    let (body, check) = compact.split_at(compact.len() - 1);
    luhn_check_digit(body).is_some_and(|c| check.starts_with(c))
}

/// The ISO/IEC 7812 (Luhn) check digit that completes `body` (digits only).
pub fn luhn_check_digit(body: &str) -> Option<char> {
    let sum: u32 = digits(body)?
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &v)| {
            // Every other digit from the right of the body (next to the check digit) doubles.
            if i % 2 == 0 {
                let x = v * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                v
            }
        })
        .sum();
    Some(char::from(b'0' + ((10 - sum % 10) % 10) as u8))
}

/// A card expiry `MM/YY` with a month from 01 to 12.
pub fn card_expiry(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b'/'
        && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit)
        && (1..=12).contains(&((b[0] - b'0') * 10 + (b[1] - b'0')))
}

/// GB 11643-1999 weights of the first 17 characters of a resident ID number.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The GB 11643-1999 check character of the first 17 digits of an ID number (`0-9` or `X`).
pub fn id_number_check(first17: &str) -> Option<char> {
    let d = digits(first17)?;
    if d.len() != 17 {
        return None;
    }
    let sum: u32 = d.iter().zip(ID_WEIGHTS).map(|(v, w)| v * w).sum();
    Some(b"10X98765432"[(sum % 11) as usize] as char)
}

/// Whether a year, month and day form a real Gregorian date.
pub fn real_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// What an 18-character resident ID number says, when its check character, birth date and
/// province code are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber {
    /// Birth date, `YYYY-MM-DD`.
    pub birth: String,
    /// `男` (odd 17th digit) or `女` (even).
    pub sex: &'static str,
    /// Province (or region) of the first two digits.
    pub province: &'static str,
}

/// Validates an 18-character resident ID number (GB 11643-1999): region, birth date, sequence
/// and check character (`X` in either case).
pub fn id_number(s: &str) -> Option<IdNumber> {
    let s = s.trim();
    if s.chars().count() != 18 || !s.is_ascii() {
        return None;
    }
    let (body, check) = s.split_at(17);
    let want = id_number_check(body)?;
    if !check.eq_ignore_ascii_case(&want.to_string()) {
        return None;
    }
    let num = |a: usize, b: usize| body[a..b].parse::<u32>().ok();
    let birth = id_birth_date(body)?;
    let province = province_of(num(0, 2)?)?;
    let sex = if num(16, 17)? % 2 == 1 { "男" } else { "女" };
    Some(IdNumber {
        birth,
        sex,
        province,
    })
}

/// The birth date (`YYYY-MM-DD`) an ID number's characters 7 to 14 give, when they are digits
/// forming a real date from 1900 to 2100; the rest of the number (its check character
/// included) is not looked at.
pub fn id_birth_date(number: &str) -> Option<String> {
    let ymd = digits(number.get(6..14)?)?;
    let value = |r: std::ops::Range<usize>| ymd[r].iter().fold(0, |v, d| v * 10 + d);
    let (y, m, d) = (value(0..4), value(4..6), value(6..8));
    ((1900..=2100).contains(&y) && real_date(y, m, d)).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// Province-level divisions by the first two digits of GB/T 2260 region codes.
const PROVINCES: [(u32, &str); 34] = [
    (11, "北京市"),
    (12, "天津市"),
    (13, "河北省"),
    (14, "山西省"),
    (15, "内蒙古自治区"),
    (21, "辽宁省"),
    (22, "吉林省"),
    (23, "黑龙江省"),
    (31, "上海市"),
    (32, "江苏省"),
    (33, "浙江省"),
    (34, "安徽省"),
    (35, "福建省"),
    (36, "江西省"),
    (37, "山东省"),
    (41, "河南省"),
    (42, "湖北省"),
    (43, "湖南省"),
    (44, "广东省"),
    (45, "广西壮族自治区"),
    (46, "海南省"),
    (50, "重庆市"),
    (51, "四川省"),
    (52, "贵州省"),
    (53, "云南省"),
    (54, "西藏自治区"),
    (61, "陕西省"),
    (62, "甘肃省"),
    (63, "青海省"),
    (64, "宁夏回族自治区"),
    (65, "新疆维吾尔自治区"),
    (71, "台湾省"),
    (81, "香港特别行政区"),
    (82, "澳门特别行政区"),
];

/// The province-level division of a two-digit region prefix.
pub fn province_of(prefix: u32) -> Option<&'static str> {
    PROVINCES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, n)| *n)
}

/// GB 32100-2015 alphabet of the unified social credit code (no I, O, S, V, Z).
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// GB 32100-2015 weights of the first 17 characters (3^i mod 31).
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The GB 32100-2015 check character of the first 17 characters of a credit code.
pub fn credit_code_check(first17: &str) -> Option<char> {
    let vals: Vec<u32> = first17
        .bytes()
        .map(|b| USCC_ALPHABET.iter().position(|&a| a == b).map(|p| p as u32))
        .collect::<Option<_>>()?;
    if vals.len() != 17 {
        return None;
    }
    let sum: u32 = vals.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    Some(USCC_ALPHABET[((31 - sum % 31) % 31) as usize] as char)
}

/// Validates an 18-character unified social credit code (GB 32100-2015).
pub fn credit_code(s: &str) -> bool {
    let s = s.trim();
    s.len() == 18
        && s.is_ascii()
        && credit_code_check(&s[..17]).is_some_and(|c| s.as_bytes()[17] == c as u8)
}

/// ISO 3779 transliteration of a VIN character (letters I, O and Q are not allowed).
fn vin_value(c: u8) -> Option<u32> {
    Some(match c {
        b'0'..=b'9' => (c - b'0') as u32,
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => return None,
    })
}

/// ISO 3779 weights by position.
const VIN_WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// The check character (position 9) a 17-character VIN should carry.
pub fn vin_check(vin: &str) -> Option<char> {
    let b = vin.as_bytes();
    if b.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (&c, w) in b.iter().zip(VIN_WEIGHTS) {
        sum += vin_value(c)? * w;
    }
    Some(match sum % 11 {
        10 => 'X',
        r => char::from(b'0' + r as u8),
    })
}

/// Validates a 17-character VIN: alphabet (no I, O, Q) and check digit.
pub fn vin(s: &str) -> bool {
    let s = s.trim();
    vin_check(s).is_some_and(|c| s.as_bytes()[8] == c as u8)
}

/// Province abbreviations that open a Chinese licence plate.
const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Validates a Chinese licence plate, without separators: a province abbreviation, an issuing
/// letter, then five characters (letters without I and O, or digits; the last may be 学, 警,
/// 港, 澳, 挂 or 领) or, for new-energy plates, six with D or F first (small cars) or last
/// (large vehicles) and digits between.
pub fn plate(s: &str) -> bool {
    let c: Vec<char> = s
        .chars()
        .filter(|c| !matches!(c, '·' | '•' | ' ' | '-'))
        .collect();
    if c.len() < 7 || !PLATE_PROVINCES.contains(c[0]) || !c[1].is_ascii_uppercase() {
        return false;
    }
    let serial_char =
        |ch: char| ch.is_ascii_digit() || (ch.is_ascii_uppercase() && ch != 'I' && ch != 'O');
    let tail = &c[2..];
    match tail.len() {
        5 => {
            tail[..4].iter().all(|&ch| serial_char(ch))
                && (serial_char(tail[4]) || "学警港澳挂领".contains(tail[4]))
        }
        6 => {
            let small = matches!(tail[0], 'D' | 'F')
                && serial_char(tail[1])
                && tail[2..].iter().all(char::is_ascii_digit);
            let large = matches!(tail[5], 'D' | 'F') && tail[..5].iter().all(char::is_ascii_digit);
            small || large
        }
        _ => false,
    }
}

/// UPU S10 weights of the eight serial digits of an item identifier.
const S10_WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];

/// Validates a UPU S10 item identifier (EMS and postal parcels): two letters, eight serial
/// digits, a check digit, a two-letter country code.
pub fn s10_tracking_number(s: &str) -> bool {
    let b = s.trim().as_bytes();
    if b.len() != 13
        || !b[..2].iter().chain(&b[11..]).all(u8::is_ascii_uppercase)
        || !b[2..11].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let sum: u32 = b[2..10]
        .iter()
        .zip(S10_WEIGHTS)
        .map(|(&d, w)| (d - b'0') as u32 * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    (b[10] - b'0') as u32 == check
}

/// The format of an express tracking number, if it has a known one: `S10` (UPU item identifier,
/// EMS and postal parcels, check digit verified), `SF` (SF Express: SF + 12-13 digits), `JD`
/// (JD Logistics: JD, an optional service letter, 12-13 digits), `YT` (YTO: YT + 13 digits),
/// `JT` (J&T: JT + 13 digits), or `digits` (12-15 digits: ZTO, Yunda, STO, EMS domestic).
/// Spaces are ignored.
pub fn tracking_number(s: &str) -> Option<&'static str> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let all_digits = |x: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit())
    };
    if !t.is_ascii() {
        return None;
    }
    if s10_tracking_number(&t) {
        return Some("S10");
    }
    if all_digits(&t, 12..=15) {
        return Some("digits");
    }
    let (prefix, rest) = t.split_at(t.len().min(2));
    match prefix {
        "SF" if all_digits(rest, 12..=13) => Some("SF"),
        "YT" if all_digits(rest, 13..=13) => Some("YT"),
        "JT" if all_digits(rest, 13..=13) => Some("JT"),
        "JD" => {
            let rest = rest
                .strip_prefix(|c: char| c.is_ascii_uppercase())
                .unwrap_or(rest);
            all_digits(rest, 12..=13).then_some("JD")
        }
        _ => None,
    }
}

/// The tracking-number formats a carrier (by a name or alias as printed) uses; `None` for a
/// carrier we do not know.
pub fn carrier_formats(carrier: &str) -> Option<&'static [&'static str]> {
    const CARRIERS: &[(&[&str], &[&str])] = &[
        (&["顺丰", "SF"], &["SF"]),
        (&["京东", "JD"], &["JD"]),
        (&["圆通", "YTO"], &["YT", "digits"]),
        (&["极兔", "J&T"], &["JT"]),
        (&["EMS", "邮政"], &["S10", "digits"]),
        (&["中通", "ZTO", "韵达", "申通", "STO"], &["digits"]),
    ];
    CARRIERS
        .iter()
        .find(|(names, _)| names.iter().any(|n| carrier.contains(n)))
        .map(|(_, f)| *f)
}

/// A Chinese phone number as printed on documents: a mobile number (11 digits from 13-19),
/// possibly masked in the middle (`138****5678`), or a landline with its area code
/// (`010-12345678`, `0755-1234567`, optionally with an extension after another `-`).
pub fn phone(s: &str) -> bool {
    let s: String = s.chars().filter(|c| *c != ' ').collect();
    let s = s.strip_prefix("+86").unwrap_or(&s);
    let b = s.as_bytes();
    if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
        let masked = b[3..7].iter().all(|&c| c == b'*');
        return b[..3].iter().chain(&b[7..]).all(u8::is_ascii_digit)
            && (masked || b[3..7].iter().all(u8::is_ascii_digit));
    }
    let mut parts = s.split('-');
    let (Some(area), Some(number)) = (parts.next(), parts.next()) else {
        return false;
    };
    let ext_ok = parts
        .next()
        .is_none_or(|e| (1..=6).contains(&e.len()) && digits(e).is_some());
    area.starts_with('0')
        && (3..=4).contains(&area.len())
        && digits(area).is_some()
        && (7..=8).contains(&number.len())
        && digits(number).is_some()
        && !number.starts_with('0')
        && ext_ok
        && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_numbers() {
        for (ok, format) in [
            ("SF1234567890123", "SF"),
            ("JD0123456789012", "JD"),
            ("JDX012345678901", "JD"),
            ("YT1234567890123", "YT"),
            ("JT0001234567890", "JT"),
            ("75123456789012", "digits"),
            ("EE123456785CN", "S10"),
            ("RR 473124829 GB", "S10"),
        ] {
            assert_eq!(tracking_number(ok), Some(format), "{ok}");
        }
        for bad in [
            "SF12345",
            "EE123456784CN",
            "XX1234567890123",
            "12345",
            "025-85333555",
            "",
        ] {
            assert_eq!(tracking_number(bad), None, "{bad}");
        }
        assert_eq!(carrier_formats("顺丰速运"), Some(&["SF"][..]));
        assert_eq!(
            carrier_formats("EMS 经济快递"),
            Some(&["S10", "digits"][..])
        );
        assert_eq!(carrier_formats("某某快运"), None);
    }

    #[test]
    fn luhn_check_digit_completes_known_numbers() {
        assert_eq!(luhn_check_digit("411111111111111"), Some('1'));
        assert_eq!(luhn_check_digit("7992739871"), Some('3'));
        assert_eq!(luhn_check_digit("41x1"), None);
    }

    #[test]
    fn luhn_card_numbers() {
        // Public test numbers of the card schemes.
        for ok in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "5500000000000004",
            "6212345678901232",
            "378282246310005",
            "6011111111111117",
        ] {
            assert!(bank_card_number(ok), "{ok}");
        }
        for bad in [
            "4111111111111112",
            "411111111111",
            "41111111111111111111",
            "4111-1111-1111-1111",
            "",
        ] {
            assert!(!bank_card_number(bad), "{bad}");
        }
    }

    #[test]
    fn expiry_dates() {
        for ok in ["01/25", "12/30", "09/99"] {
            assert!(card_expiry(ok), "{ok}");
        }
        for bad in ["00/25", "13/25", "1/25", "12-25", "12/2025", "ab/cd"] {
            assert!(!card_expiry(bad), "{bad}");
        }
    }

    #[test]
    fn resident_id_numbers() {
        // The standard's worked example and numbers built with its check rule.
        assert_eq!(id_number_check("11010519491231002"), Some('X'));
        let got = id_number("11010519491231002X").unwrap();
        assert_eq!(
            got,
            IdNumber {
                birth: "1949-12-31".into(),
                sex: "女",
                province: "北京市",
            }
        );
        assert!(id_number("11010519491231002x").is_some(), "lower-case x");
        assert_eq!(id_number_check("44030419900307301"), Some('6'));
        let m = id_number("440304199003073016").unwrap();
        assert_eq!((m.sex, m.province), ("男", "广东省"));
        // Wrong check character; right check character but 30 February, or province 99;
        // wrong length; letters.
        for bad in [
            "110105194912310021",
            "110105194902300020",
            "990105194912310023",
            "11010519491231002",
            "1101051949123100XX",
        ] {
            assert!(id_number(bad).is_none(), "{bad}");
        }
        // The check rule still fires on a date that is fine but a digit that is not.
        assert!(id_number("110105194912310029").is_none());
    }

    #[test]
    fn real_dates() {
        assert!(real_date(2000, 2, 29));
        assert!(!real_date(1900, 2, 29));
        assert!(real_date(2024, 2, 29));
        assert!(!real_date(2023, 2, 29));
        assert!(!real_date(2023, 4, 31));
        assert!(!real_date(2023, 13, 1));
        assert!(!real_date(2023, 1, 0));
    }

    #[test]
    fn unified_social_credit_codes() {
        // A published code (Huawei Technologies) and codes built with the GB 32100-2015 rule.
        for ok in [
            "914403001922038216",
            "91350100M000100Y43",
            "9144030071526726XG",
        ] {
            assert!(credit_code(ok), "{ok}");
        }
        assert_eq!(credit_code_check("91350100M000100Y4"), Some('3'));
        for bad in [
            "91350100M000100Y44",
            "91350100M000100Y4",
            "91350100M000100I43",
            "9135 0100M000100Y43",
        ] {
            assert!(!credit_code(bad), "{bad}");
        }
    }

    #[test]
    fn vins() {
        // The usual ISO 3779 examples: the check digit at position 9.
        assert!(vin("1M8GDM9AXKP042788"));
        assert!(vin("11111111111111111"));
        assert_eq!(vin_check("1M8GDM9A0KP042788"), Some('X'));
        for bad in [
            "1M8GDM9A1KP042788",
            "1M8GDM9AXKP04278",
            "1M8GDM9AXKP0427O8",
            "IM8GDM9AXKP042788",
        ] {
            assert!(!vin(bad), "{bad}");
        }
    }

    #[test]
    fn licence_plates() {
        for ok in [
            "京A12345",
            "皖AHB399",
            "粤B·D12345",
            "沪AD12345",
            "苏E12345D",
            "浙E55555",
            "川A1234学",
            "粤Z1234港",
        ] {
            assert!(plate(ok), "{ok}");
        }
        for bad in [
            "A123456",
            "京112345",
            "京A1234",
            "京A123456",
            "京AI2345",
            "沪A1234D5",
            "京A12345X9",
        ] {
            assert!(!plate(bad), "{bad}");
        }
    }

    #[test]
    fn upu_s10_tracking_numbers() {
        // The UPU S10 worked example: serial 47312482, check digit 8.
        assert!(s10_tracking_number("RR473124829GB"));
        assert!(s10_tracking_number("EE123456785CN"));
        for bad in [
            "RR473124828GB",
            "R1473124829GB",
            "RR47312482GB",
            "RR473124829G1",
        ] {
            assert!(!s10_tracking_number(bad), "{bad}");
        }
    }

    #[test]
    fn phone_numbers() {
        for ok in [
            "13812345678",
            "138****5678",
            "+86 138 1234 5678",
            "010-12345678",
            "0755-1234567",
            "021-87654321-123",
        ] {
            assert!(phone(ok), "{ok}");
        }
        for bad in [
            "12812345678",
            "1381234567",
            "138**5678",
            "10-12345678",
            "010-0234567",
            "010-123456",
            "010-12345678-1234567",
        ] {
            assert!(!phone(bad), "{bad}");
        }
    }
}
