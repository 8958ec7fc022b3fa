//! Field normalisers for the document pipelines: amounts written in Chinese numerals (or
//! Arabic digits with 万/亿), and the 56 ethnic groups with nearest-match correction.

use crate::eval::metrics::edit_distance;

/// The value of a Chinese digit (financial forms included).
fn digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '壹' => 1,
        '二' | '贰' | '两' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

/// The value of a small unit (十, 百, 千 and their financial forms).
fn small_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '仟' => 1000,
        _ => return None,
    })
}

/// Words around an amount that carry no value (currency, "whole", separators).
const NOISE: &[&str] = &["人民币", "整", "正", "(", ")", "（", "）", " "];

/// Parses an amount such as a registered capital: `伍佰万元整` (5 000 000), `人民币壹仟万元`,
/// `一亿二千万`, `500万元人民币`, `1,250.5万元`, `3000元`. Jiao and fen (`角`, `分`) count as
/// tenths and hundredths. `None` when anything else is left.
pub fn chinese_amount(s: &str) -> Option<f64> {
    let mut t = s.trim().to_string();
    for w in NOISE {
        t = t.replace(w, "");
    }
    if t.is_empty() {
        return None;
    }
    // Arabic digits, optionally scaled by 万 or 亿.
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        let (num, unit) = match t
            .char_indices()
            .find(|(_, c)| !c.is_ascii_digit() && *c != '.' && *c != ',')
        {
            Some((i, _)) => (&t[..i], &t[i..]),
            None => (t.as_str(), ""),
        };
        let v: f64 = num.replace(',', "").parse().ok()?;
        let scale = match unit.trim_end_matches(['元', '圆']) {
            "" => 1.0,
            "万" => 1e4,
            "亿" => 1e8,
            "万亿" => 1e12,
            _ => return None,
        };
        return Some(v * scale);
    }
    let (mut total, mut section, mut number) = (0u64, 0u64, 0u64);
    let mut fraction = 0.0f64;
    // A currency word alone is not an amount.
    let mut any_numeral = false;
    for c in t.chars() {
        any_numeral |= digit(c).is_some() || small_unit(c).is_some();
        if let Some(d) = digit(c) {
            number = d;
        } else if let Some(u) = small_unit(c) {
            // `十万` means ten ten-thousands: a unit with no digit before it counts once.
            section += number.max(1) * u;
            number = 0;
        } else if c == '万' {
            total += (section + number) * 10_000;
            section = 0;
            number = 0;
        } else if c == '亿' {
            total = (total + section + number) * 100_000_000;
            section = 0;
            number = 0;
        } else if c == '元' || c == '圆' {
            // The end of the whole part (jiao and fen may follow).
            total += section + number;
            section = 0;
            number = 0;
        } else if c == '角' || c == '分' {
            fraction += number as f64 * if c == '角' { 0.1 } else { 0.01 };
            number = 0;
        } else {
            return None;
        }
    }
    any_numeral.then_some((total + section + number) as f64 + fraction)
}

/// The 56 ethnic groups of China, without the trailing 族.
pub const ETHNIC_GROUPS: [&str; 56] = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
];

/// The ethnic group a read field names: `(group, corrected)`. An exact name (with or without
/// 族) is returned as is; otherwise the unique group within one edit (a misread, missing or
/// extra character) is returned as a correction. `None` when no group, or more than one, is
/// that close.
pub fn ethnicity(s: &str) -> Option<(&'static str, bool)> {
    let s = s.trim();
    let s = s.strip_suffix('族').unwrap_or(s);
    let found = nearest_group(s);
    if found.is_some() {
        return found;
    }
    // The label read into the value (`民旅汉`, `长款汉`: 民族 misread, then 汉): a group right
    // after one or two characters, unless they are (within one edit) another field's label
    // (`出生汉` is not an ethnicity misread). No group's name ends in another's, so the head
    // cannot be the start of a longer name.
    (1..=2).find_map(|n| {
        let head: Vec<char> = s.chars().take(n).collect();
        let rest: String = s.chars().skip(n).collect();
        let group = ETHNIC_GROUPS.iter().find(|g| **g == rest)?;
        let other_label = OTHER_FRONT_LABELS
            .iter()
            .any(|l| edit_distance(&head, &l.chars().collect::<Vec<_>>()) <= 1);
        (head.len() == n && !other_label).then_some((*group, true))
    })
}

/// The ID card front's labels other than 民族, which an ethnicity reading's head must not be.
const OTHER_FRONT_LABELS: &[&str] = &["姓名", "性别", "出生", "住址"];

/// The characters the 56 group names are written with, for a constrained re-read.
pub fn ethnic_alphabet() -> String {
    let mut chars: Vec<char> = ETHNIC_GROUPS.iter().flat_map(|g| g.chars()).collect();
    chars.sort_unstable();
    chars.dedup();
    chars.into_iter().collect()
}

/// The groups within one edit of a read value (`族` at its end dropped): more than one when
/// [`ethnicity`] cannot choose (亿佬: 仡佬 and 仫佬).
pub fn ethnic_candidates(s: &str) -> Vec<&'static str> {
    let s = s.trim();
    let read: Vec<char> = s.strip_suffix('族').unwrap_or(s).chars().collect();
    if read.is_empty() {
        return Vec::new();
    }
    ETHNIC_GROUPS
        .iter()
        .copied()
        .filter(|g| edit_distance(&read, &g.chars().collect::<Vec<_>>()) <= 1)
        .collect()
}

/// [`ethnicity`] without the label prefix: an exact group, or the unique one within an edit.
fn nearest_group(s: &str) -> Option<(&'static str, bool)> {
    if let Some(g) = ETHNIC_GROUPS.iter().find(|g| **g == s) {
        return Some((g, false));
    }
    let read: Vec<char> = s.chars().collect();
    let close = ethnic_candidates(s);
    match close.as_slice() {
        [only] => Some((only, true)),
        [] => None,
        // Several within one edit (a single character read is one edit from every one-character
        // group): a group holding every character read, in order, is the one a dropped
        // character explains, when it is the only such group (傈 -> 傈僳, not 汉).
        _ => {
            let holding: Vec<&'static str> = close
                .iter()
                .copied()
                .filter(|g| {
                    let mut chars = g.chars();
                    read.iter().all(|c| chars.any(|gc| gc == *c))
                })
                .filter(|g| g.chars().count() > read.len())
                .collect();
            match holding.as_slice() {
                [only] => Some((only, true)),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_chinese_numerals() {
        for (text, want) in [
            ("伍佰万元整", 5_000_000.0),
            ("人民币壹仟万元", 10_000_000.0),
            ("一亿二千万", 120_000_000.0),
            ("十二万三千", 123_000.0),
            ("十万", 100_000.0),
            ("壹佰零伍万元", 1_050_000.0),
            ("贰仟叁佰肆拾伍元陆角柒分", 2345.67),
            ("500万元人民币", 5_000_000.0),
            ("1,250.5万元", 12_505_000.0),
            ("3000元", 3000.0),
            ("（人民币）叁亿元整", 300_000_000.0),
        ] {
            let got = chinese_amount(text).unwrap_or_else(|| panic!("{text}"));
            assert!((got - want).abs() < 1e-6, "{text}: {got} vs {want}");
        }
        for bad in ["", "元", "五百万美元", "abc", "500千元"] {
            assert_eq!(chinese_amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn ethnic_groups() {
        let mut unique = ETHNIC_GROUPS.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 56);
        assert_eq!(ethnicity("汉"), Some(("汉", false)));
        assert_eq!(ethnicity("维吾尔族"), Some(("维吾尔", false)));
        // One misread character, one missing, one extra.
        assert_eq!(ethnicity("维吾示"), Some(("维吾尔", true)));
        assert_eq!(ethnicity("柯尔克"), Some(("柯尔克孜", true)));
        assert_eq!(ethnicity("鄂伦春春"), Some(("鄂伦春", true)));
        // Too far, or several groups equally close and none holding what was read (every
        // one-character group is one edit from 木).
        assert_eq!(ethnicity("英格兰"), None);
        assert_eq!(ethnicity("木"), None);
        assert_eq!(ethnicity(""), None);
        // One character of a two-character group, held by no other group: the dropped
        // character explains it; held by two as close (布依, 布朗), nothing does.
        assert_eq!(ethnicity("傈"), Some(("傈僳", true)));
        assert_eq!(ethnicity("僳"), Some(("傈僳", true)));
        assert_eq!(ethnicity("布"), None);
        // The label read into the value.
        assert_eq!(ethnicity("民旅汉"), Some(("汉", true)));
        assert_eq!(ethnicity("民族维吾尔"), Some(("维吾尔", true)));
        assert_eq!(ethnicity("族回"), Some(("回", true)));
        assert_eq!(ethnicity("长款汉"), Some(("汉", true)));
        assert_eq!(ethnicity("出生汉"), None);
        assert_eq!(ethnicity("住址汉"), None);
        // No group's name ends in another's: a head is never the start of a longer name.
        for g in ETHNIC_GROUPS {
            let chars: Vec<char> = g.chars().collect();
            for n in 1..chars.len() {
                let tail: String = chars[n..].iter().collect();
                assert!(
                    !ETHNIC_GROUPS.contains(&tail.as_str()),
                    "{g} ends in {tail}"
                );
            }
        }
        // Two groups one edit away: no guess (the pipeline re-reads with the groups' alphabet).
        assert_eq!(ethnicity("亿佬"), None);
        assert_eq!(ethnic_candidates("亿佬"), ["仫佬", "仡佬"]);
        assert!(ethnic_candidates("肯尼亚").is_empty());
        let alphabet = ethnic_alphabet();
        assert!(alphabet.contains('仡') && alphabet.contains('仫') && !alphabet.contains('亿'));
    }
}
