//! Chinese business licenses (营业执照, the 2015+ "three certificates in one" layout).
//!
//! Stages: locate the paper in the photo and warp it upright -> read it (turned over when it
//! reads upside down) -> fields by key anchors (the value right of its label), wrapped values
//! (name, type, scope, term, address, authority) continued over the lines below their start
//! -> the unified social credit code re-read with its alphabet only, checked (GB 32100-2015
//! check character) and repaired from second choices -> registered capital parsed from
//! Chinese numerals, dates checked.

use super::anchor::{Value, anchored, compact, continue_down, field, longest_run, strip_colon};
use super::{Field, check, normalize};
use image::RgbImage;
use ocr_core::ocr::{Engine, Line, OcrError, Quad};
use serde::Serialize;

/// The credit code's alphabet (GB 32100-2015: digits and upper-case letters but I, O, S, V, Z).
pub const CREDIT_CODE_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
/// The canonical size the license is warped to (A-series aspect ratio, landscape).
pub const LICENSE_SIZE: (u32, u32) = (1600, 1130);

/// A business license's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BusinessLicense {
    /// The document's corners in the photo.
    #[serde(rename = "box")]
    pub quad: Option<Quad>,
    /// Whether it was read upside down and turned.
    pub turned: bool,
    /// 统一社会信用代码 (18 characters, check character verified).
    pub credit_code: Option<Field>,
    /// 名称.
    pub name: Option<Field>,
    /// 类型.
    #[serde(rename = "type")]
    pub kind: Option<Field>,
    /// 法定代表人 (or 负责人, 经营者, 执行事务合伙人).
    pub legal_representative: Option<Field>,
    /// 注册资本, as printed; `valid` when it parses as an amount.
    pub registered_capital: Option<Field>,
    /// The registered capital in yuan, parsed from the printed amount.
    pub registered_capital_yuan: Option<f64>,
    /// 成立日期, as printed; `valid` when it is a real date.
    pub established_date: Option<Field>,
    /// 营业期限, as printed (`… 至 …`, or `长期`).
    pub business_term: Option<Field>,
    /// 住所 (or 经营场所, 营业场所).
    pub address: Option<Field>,
    /// 经营范围.
    pub scope: Option<Field>,
    /// 登记机关.
    pub registration_authority: Option<Field>,
}

field_list!(BusinessLicense {
    "credit_code" => credit_code,
    "name" => name,
    "type" => kind,
    "legal_representative" => legal_representative,
    "registered_capital" => registered_capital,
    "established_date" => established_date,
    "business_term" => business_term,
    "address" => address,
    "scope" => scope,
    "registration_authority" => registration_authority,
});

/// Label spellings of each field.
const LABELS: &[(&str, &[&str])] = &[
    (
        "credit_code",
        &["统一社会信用代码", "社会信用代码", "信用代码"],
    ),
    ("name", &["名称"]),
    ("type", &["类型"]),
    (
        "legal_representative",
        &["法定代表人", "执行事务合伙人", "负责人", "经营者"],
    ),
    ("registered_capital", &["注册资本", "出资额"]),
    ("established_date", &["成立日期", "注册日期"]),
    ("business_term", &["营业期限", "合伙期限"]),
    ("address", &["住所", "经营场所", "营业场所", "主要经营场所"]),
    ("scope", &["经营范围"]),
    ("registration_authority", &["登记机关"]),
];

/// Fields whose values wrap onto the lines below.
const WRAPPING: &[&str] = &[
    "name",
    "type",
    "scope",
    "business_term",
    "address",
    "registration_authority",
];

/// Reads a business license in a photo (or, with `crop`, an image that is the license).
pub fn read(engine: &Engine, img: &RgbImage, crop: bool) -> Result<BusinessLicense, OcrError> {
    super::read_paper(
        engine,
        img,
        crop,
        LICENSE_SIZE,
        |doc, lines| {
            let mut out = parse(engine, &doc.image, lines)?;
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

/// A `YYYY年MM月DD日` date (also read with other separators) as (year, month, day).
fn date_parts(text: &str) -> Option<(u32, u32, u32)> {
    let nums: Vec<u32> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums.as_slice() {
        [y, m, d] if check::real_date(*y, *m, *d) => Some((*y, *m, *d)),
        _ => None,
    }
}

/// A business term: `长期`, or a start date, `至`, and an end date or `长期`.
fn valid_term(text: &str) -> bool {
    if text == "长期" {
        return true;
    }
    let Some((from, to)) = text.split_once('至') else {
        return false;
    };
    date_parts(from).is_some() && (to == "长期" || date_parts(to).is_some())
}

fn parse(engine: &Engine, doc: &RgbImage, lines: &[Line]) -> Result<BusinessLicense, OcrError> {
    let w = doc.width() as f32;
    // Labels sit at the left edge of either column.
    let label_column = |l: &Line| {
        let x = l.quad[0].x / w;
        x < 0.12 || (0.5..0.58).contains(&x)
    };
    let mut values = anchored(lines, LABELS, label_column);
    let mut used: Vec<usize> = values.iter().flat_map(|(_, v)| v.lines.clone()).collect();
    // Lines that hold a label are never continuations.
    for (i, l) in lines.iter().enumerate() {
        let t = compact(&l.text);
        if LABELS
            .iter()
            .any(|(_, s)| s.iter().any(|s| t.starts_with(s)))
        {
            used.push(i);
        }
    }
    for (key, v) in values.iter_mut() {
        v.text = strip_colon(&v.text);
        if WRAPPING.contains(key) {
            let x = v.quad[0].x;
            let h = super::locate::height(&v.quad).max(8.0);
            continue_down(lines, &mut used, v, (x - 1.5 * h, x + 1.5 * h), false);
        }
    }
    let get = |key: &str| {
        values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    let plain = |key: &str| get(key).map(|v| field(&v, v.text.clone(), None, false));
    let mut out = BusinessLicense {
        name: plain("name"),
        kind: plain("type"),
        legal_representative: plain("legal_representative"),
        address: plain("address"),
        // Scopes list activities separated by `；` and never hold a colon: a colon there is
        // a misread semicolon.
        scope: get("scope").map(|v| {
            let (text, repaired) = scope_clause(&v.text.replace(['：', ':'], "；"));
            field(&v, text, None, repaired)
        }),
        registration_authority: plain("registration_authority"),
        ..Default::default()
    };
    if let Some(v) = get("registered_capital") {
        let (mut text, mut corrected) = (v.text.clone(), false);
        let mut amount = normalize::chinese_amount(&text);
        if amount.is_none() {
            // A numeral misread as a look-alike (佰 as 伯, 壹 as 慧): the value re-read with
            // the characters an amount is written with; taken when it parses as an amount.
            let again = compact(&super::reread_quad(engine, doc, &v.quad, CAPITAL_ALPHABET)?.text);
            if let Some(a) = normalize::chinese_amount(&again) {
                (text, amount, corrected) = (again, Some(a), true);
            }
        }
        out.registered_capital_yuan = amount;
        out.registered_capital = Some(field(&v, text, Some(amount.is_some()), corrected));
    }
    if let Some(v) = get("established_date") {
        let ok = date_parts(&v.text).is_some();
        out.established_date = Some(field(&v, v.text.clone(), Some(ok), false));
    }
    if let Some(v) = get("business_term") {
        out.business_term = Some(field(&v, v.text.clone(), Some(valid_term(&v.text)), false));
    }
    out.credit_code = credit_code(engine, doc, lines, get("credit_code"))?;
    Ok(out)
}

/// The characters a registered capital is written with: Arabic and Chinese numerals (plain and
/// the financial forms), units, currency words and brackets.
const CAPITAL_ALPHABET: &str = "0123456789.,零壹贰叁肆伍陆柒捌玖拾佰仟一二三四五六七八九十百千万亿元圆整正角分人民币美港欧()（）";

/// The statutory clause most scopes end with, in full-width punctuation (some licenses go on
/// inside the parentheses: `，具体经营项目以相关部门批准文件或许可证件为准）`).
const SCOPE_CLAUSE: &str = "（依法须经批准的项目，经相关部门批准后方可开展经营活动）";

/// The scope with its statutory clause ([`SCOPE_CLAUSE`]) restored where its words were read
/// but its parentheses or comma were lost or misread (thin punctuation is what the recogniser
/// drops most on these lines), and whether anything changed. The clause is fixed legal text, so
/// only punctuation between and around its two halves is touched, and the full stop that ends
/// the list before it; parentheses are added only when the clause ends the scope, and a clause
/// that goes on is left to go on.
fn scope_clause(scope: &str) -> (String, bool) {
    const HEAD: &str = "依法须经批准的项目";
    const TAIL: &str = "经相关部门批准后方可开展经营活动";
    let punct = |c: char| "()（）,，、.。·;；".contains(c);
    let Some(h) = scope.find(HEAD) else {
        return (scope.to_string(), false);
    };
    let between = scope[h + HEAD.len()..].trim_start_matches(punct);
    if !between.starts_with(TAIL) {
        return (scope.to_string(), false);
    }
    let tail_end = scope.len() - between.len() + TAIL.len();
    let is_paren = |c: char, pair: [char; 2]| pair.contains(&c);
    let opening = scope[..h]
        .char_indices()
        .next_back()
        .filter(|&(_, c)| is_paren(c, ['(', '（']))
        .map(|(i, _)| i);
    let closing = scope[tail_end..]
        .chars()
        .next()
        .filter(|&c| is_paren(c, [')', '）']))
        .map(|c| tail_end + c.len_utf8());
    let (start, end) = (opening.unwrap_or(h), closing.unwrap_or(tail_end));
    let at_end = end == scope.len();
    let inner = &SCOPE_CLAUSE['（'.len_utf8()..SCOPE_CLAUSE.len() - '）'.len_utf8()];
    let open = if opening.is_some() || at_end {
        "（"
    } else {
        ""
    };
    let close = if closing.is_some() || at_end {
        "）"
    } else {
        ""
    };
    // The list before the clause ends with a full stop (`…销售。（依法…）`), the thinnest mark
    // on the line: one read as a comma or dot is put right, one dropped is put back, and a
    // stray mark read after it (`…服务。，（依法`) goes.
    let mut before = &scope[..start];
    let mut stop = "";
    if !open.is_empty() {
        let thin = |c: char| ",，.·、".contains(c);
        let trimmed = before.trim_end_matches(thin);
        match trimmed.chars().next_back() {
            Some('。') => before = trimmed,
            Some(c) if !"：:".contains(c) && (trimmed.len() < before.len() || !punct(c)) => {
                before = trimmed;
                stop = "。";
            }
            _ => {}
        }
    }
    let fixed = format!("{before}{stop}{open}{inner}{close}{}", &scope[end..]);
    let changed = fixed != scope;
    (fixed, changed)
}

/// The credit code: the longest run of its alphabet on the labelled line (or on any line, when
/// the label was not read), re-read with the alphabet only, checked, and repaired from second
/// choices when the check character fails.
fn credit_code(
    engine: &Engine,
    doc: &RgbImage,
    lines: &[Line],
    labelled: Option<Value>,
) -> Result<Option<Field>, OcrError> {
    let candidates: Vec<usize> = match &labelled {
        Some(v) => v.lines.clone(),
        None => (0..lines.len()).collect(),
    };
    let best = candidates
        .into_iter()
        .map(|i| (i, longest_run(&lines[i].text, CREDIT_CODE_ALPHABET)))
        .filter(|(_, (_, run))| run.len() >= 15)
        .max_by_key(|(_, (_, run))| run.len());
    let Some((i, (start, run))) = best else {
        return Ok(None);
    };
    let line = &lines[i];
    let (mut reread, mut quad) =
        super::reread_span(engine, doc, line, start, run.len(), CREDIT_CODE_ALPHABET)?;
    let mut reread_text = compact(&reread.text);
    if reread_text.len() == 17 {
        // One character short: the reading's span probably lost an end character. Read again
        // over the span grown by a character and a half at each end; taken when that gives a
        // whole code that passes its check.
        let char_w = super::locate::dist(quad[0], quad[1]) / 17.0;
        let wider = super::locate::grow(&quad, 1.5 * char_w, 0.0);
        let again = super::reread_quad(engine, doc, &wider, CREDIT_CODE_ALPHABET)?;
        let text = compact(&again.text);
        if text.len() == 18 && check::credit_code(&text) {
            (reread, quad, reread_text) = (again, wider, text);
        }
    }
    let (text, from) = if reread_text.len() == 18 || run.len() != 18 {
        (reread_text, &reread)
    } else {
        (run, line)
    };
    let mut f = Field {
        valid: Some(check::credit_code(&text)),
        text,
        confidence: from.confidence,
        quad: Some(quad),
        corrected: false,
        recognizer: "general",
    };
    if f.valid == Some(false)
        && f.text.len() == 18
        && from.chars.len() == 18
        && let Some(fixed) = super::repair_with_alternatives(
            &from.chars,
            CREDIT_CODE_ALPHABET,
            4,
            0.0,
            f32::INFINITY,
            check::credit_code,
        )
    {
        f.text = fixed;
        f.valid = Some(true);
        f.corrected = true;
    }
    Ok(Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statutory_clause_gets_its_punctuation_back() {
        let full =
            "餐饮服务；道路货物运输。（依法须经批准的项目，经相关部门批准后方可开展经营活动）";
        assert_eq!(scope_clause(full), (full.to_string(), false));
        for read in [
            "餐饮服务；道路货物运输。(依法须经批准的项目,经相关部门批准后方可开展经营活动",
            "餐饮服务；道路货物运输。（依法须经批准的项目经相关部门批准后方可开展经营活动)",
            "餐饮服务；道路货物运输。依法须经批准的项目·经相关部门批准后方可开展经营活动）",
        ] {
            assert_eq!(scope_clause(read), (full.to_string(), true), "{read}");
        }
        // The full stop before the clause: dropped, read as a comma, or followed by a stray
        // mark.
        for read in [
            "餐饮服务；道路货物运输。，（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
            "餐饮服务；道路货物运输（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
            "餐饮服务；道路货物运输，（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
            "餐饮服务；道路货物运输、(依法须经批准的项目，经相关部门批准后方可开展经营活动）",
        ] {
            assert_eq!(scope_clause(read), (full.to_string(), true), "{read}");
        }
        // The clause alone, or after a heading's colon, gets no full stop.
        let alone = &full[full.find('（').unwrap()..];
        assert_eq!(scope_clause(alone), (alone.to_string(), false));
        let headed = format!("许可项目：{alone}");
        assert_eq!(scope_clause(&headed), (headed.clone(), false));
        // The longer clause goes on inside its parentheses: no parenthesis is added there.
        let longer = "餐饮服务。（依法须经批准的项目，经相关部门批准后方可开展经营活动，具体经营项目以相关部门批准文件或许可证件为准）";
        assert_eq!(scope_clause(longer), (longer.to_string(), false));
        let misread = longer.replacen("项目，经", "项目经", 1);
        assert_eq!(scope_clause(&misread), (longer.to_string(), true));
        // Without both halves of the clause, nothing is touched.
        let partial = "餐饮服务（依法须经批准的项目";
        assert_eq!(scope_clause(partial), (partial.to_string(), false));
        assert_eq!(scope_clause(""), (String::new(), false));
    }

    #[test]
    fn terms_and_dates() {
        assert_eq!(date_parts("2016年03月08日"), Some((2016, 3, 8)));
        assert_eq!(date_parts("2016年02月30日"), None);
        assert!(valid_term("长期"));
        assert!(valid_term("2016年03月08日至长期"));
        assert!(valid_term("2016年03月08日至2046年03月07日"));
        assert!(!valid_term("2016年03月08日至"));
        assert!(!valid_term("至2046年03月07日"));
    }
}
