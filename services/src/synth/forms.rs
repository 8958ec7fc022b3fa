//! Synthetic paper documents with random valid field values: express waybills and business
//! licenses. Each is drawn flat, then photographed like the cards ([`documents::photograph`]).
//! Records carry the fields in the dev-set manifest format (values as printed).

use super::documents::{self, GIVEN, INK, SURNAMES, pick, pick_char, random_date, text};
use crate::doc::check;
use ab_glyph::{FontVec, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, text_size};
use imageproc::rect::Rect;

/// (province, city, districts): public place names for addresses and region codes.
const PLACES: &[(&str, &str, u32, &[&str])] = &[
    (
        "",
        "上海市",
        310115,
        &["浦东新区", "徐汇区", "闵行区", "静安区"],
    ),
    (
        "",
        "北京市",
        110105,
        &["朝阳区", "海淀区", "东城区", "丰台区"],
    ),
    (
        "广东省",
        "深圳市",
        440305,
        &["南山区", "福田区", "宝安区", "龙岗区"],
    ),
    (
        "广东省",
        "广州市",
        440106,
        &["天河区", "越秀区", "海珠区", "番禺区"],
    ),
    (
        "浙江省",
        "杭州市",
        330106,
        &["西湖区", "余杭区", "滨江区", "拱墅区"],
    ),
    (
        "江苏省",
        "苏州市",
        320505,
        &["虎丘区", "吴中区", "姑苏区", "相城区"],
    ),
    (
        "江苏省",
        "南京市",
        320106,
        &["鼓楼区", "玄武区", "江宁区", "建邺区"],
    ),
    (
        "四川省",
        "成都市",
        510107,
        &["武侯区", "锦江区", "青羊区", "成华区"],
    ),
    (
        "湖北省",
        "武汉市",
        420106,
        &["武昌区", "洪山区", "江汉区", "汉阳区"],
    ),
    (
        "山东省",
        "青岛市",
        370212,
        &["崂山区", "市南区", "李沧区", "黄岛区"],
    ),
    (
        "福建省",
        "厦门市",
        350203,
        &["思明区", "湖里区", "集美区", "海沧区"],
    ),
    (
        "陕西省",
        "西安市",
        610113,
        &["雁塔区", "碑林区", "未央区", "长安区"],
    ),
];
const ROADS: &[&str] = &[
    "人民路",
    "解放路",
    "建设路",
    "中山路",
    "科技园路",
    "星湖街",
    "崂山路",
    "文化路",
    "长江路",
    "学府路",
    "创业大道",
    "滨江大道",
    "金融街",
    "工业园路",
    "新华街",
    "朝阳路",
];
const BUILDINGS: &[&str] = &["大厦", "广场", "科技园", "中心", "花园"];
const BRAND: &str = "恒泰华信达鑫源盛通宏瑞丰嘉锦博创安康德利新远中天合众金辉正阳明";
const TRADES: &[&str] = &[
    "电子科技",
    "贸易",
    "信息技术",
    "餐饮管理",
    "建筑工程",
    "物流",
    "文化传媒",
    "生物科技",
    "机械设备",
    "服饰",
    "网络科技",
    "商务咨询",
];
const COMPANY_TYPES: &[&str] = &[
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "有限责任公司（法人独资）",
    "股份有限公司（非上市）",
    "个人独资企业",
];
const SCOPES: &[&str] = &[
    "电子产品、计算机软硬件的研发与销售",
    "技术开发、技术咨询、技术服务",
    "货物进出口、技术进出口",
    "日用百货、服装鞋帽的批发与零售",
    "道路货物运输",
    "餐饮服务",
    "建筑材料销售",
    "企业管理咨询",
    "广告设计、制作、代理、发布",
    "机械设备租赁",
];
/// The carriers drawn on waybills and the tracking-number format each uses.
const CARRIERS: &[(&str, &str)] = &[
    ("顺丰速运", "SF"),
    ("中通快递", "digits14"),
    ("圆通速递", "YT"),
    ("韵达快递", "digits13"),
    ("申通快递", "digits13"),
    ("京东物流", "JD"),
    ("EMS", "S10"),
    ("极兔速递", "JT"),
];

fn digits(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
}

fn person(rng: &mut fastrand::Rng) -> String {
    let mut s = pick_char(rng, SURNAMES).to_string();
    for _ in 0..rng.usize(1..3) {
        s.push(pick_char(rng, GIVEN));
    }
    s
}

/// A street address (`with_province`: the province and city first).
fn address(rng: &mut fastrand::Rng, with_province: bool) -> (String, u32) {
    let (prov, city, code, districts) = PLACES[rng.usize(..PLACES.len())];
    let mut s = String::new();
    if with_province {
        s.push_str(prov);
        s.push_str(city);
    }
    s.push_str(pick(rng, districts));
    s.push_str(pick(rng, ROADS));
    s.push_str(&format!("{}号", rng.u32(1..999)));
    if rng.bool() {
        s.push_str(&format!(
            "{}{}{}栋{}室",
            pick_char(rng, BRAND),
            pick(rng, BUILDINGS),
            rng.u32(1..20),
            rng.u32(101..2999)
        ));
    }
    (s, code)
}

/// A mobile number (sometimes masked, as e-waybills print them) or a landline.
fn phone(rng: &mut fastrand::Rng) -> String {
    let p = match rng.u8(0..10) {
        0..=5 => format!("1{}{}", rng.u8(3..10), digits(rng, 9)),
        6..=7 => format!("1{}{}****{}", rng.u8(3..10), digits(rng, 1), digits(rng, 4)),
        _ => {
            let area_len = if rng.bool() { 2 } else { 3 };
            format!(
                "0{}-{}{}",
                digits(rng, area_len),
                rng.u8(2..10),
                digits(rng, 7)
            )
        }
    };
    debug_assert!(check::phone(&p), "{p}");
    p
}

/// A tracking number in the carrier's format.
fn tracking(rng: &mut fastrand::Rng, format: &str) -> String {
    match format {
        "SF" => format!("SF{}", digits(rng, 13)),
        "YT" => format!("YT{}", digits(rng, 13)),
        "JD" => format!("JD{}", digits(rng, 13)),
        "JT" => format!("JT{}", digits(rng, 13)),
        "digits14" => format!("7{}", digits(rng, 13)),
        "digits13" => format!("{}{}", rng.u8(3..5), digits(rng, 12)),
        _ => {
            // UPU S10: service letters, 8 serial digits, check digit, country.
            let serial = digits(rng, 8);
            let weights = [8, 6, 4, 2, 3, 5, 9, 7];
            let sum: u32 = serial
                .bytes()
                .zip(weights)
                .map(|(d, w)| u32::from(d - b'0') * w)
                .sum();
            let c = match 11 - sum % 11 {
                10 => 0,
                11 => 5,
                c => c,
            };
            format!("E{}{serial}{c}CN", char::from(b'A' + rng.u8(0..26)))
        }
    }
}

/// Random waybill values.
#[derive(Debug, Clone)]
pub struct WaybillValues {
    /// Carrier name as printed.
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// Sender.
    pub sender_name: String,
    /// Sender's phone.
    pub sender_phone: String,
    /// Sender's address.
    pub sender_address: String,
    /// Recipient.
    pub recipient_name: String,
    /// Recipient's phone.
    pub recipient_phone: String,
    /// Recipient's address.
    pub recipient_address: String,
    /// Routing code (三段码 / 大头笔).
    pub routing_code: String,
}

impl WaybillValues {
    /// Random values with a valid tracking number for the carrier.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        let (carrier, format) = CARRIERS[rng.usize(..CARRIERS.len())];
        let tracking_number = tracking(rng, format);
        debug_assert!(check::tracking_number(&tracking_number).is_some());
        // Routing codes avoid I and O, as carriers print them (they read as 1 and 0).
        const ROUTING_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        let routing_code = format!(
            "{}{}-{}-{}",
            rng.u32(10..1000),
            char::from(ROUTING_LETTERS[rng.usize(..ROUTING_LETTERS.len())]),
            digits(rng, 3),
            digits(rng, 2)
        );
        WaybillValues {
            carrier: carrier.into(),
            tracking_number,
            sender_name: person(rng),
            sender_phone: phone(rng),
            sender_address: address(rng, true).0,
            recipient_name: person(rng),
            recipient_phone: phone(rng),
            recipient_address: address(rng, true).0,
            routing_code,
        }
    }
}

/// Off-white paper with faint fibres.
fn paper(w: u32, h: u32, rng: &mut fastrand::Rng) -> RgbImage {
    let base = [
        rng.f32() * 10.0 + 240.0,
        rng.f32() * 10.0 + 238.0,
        rng.f32() * 12.0 + 230.0,
    ];
    let seed = rng.u32(..);
    RgbImage::from_fn(w, h, |x, y| {
        let n = ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ seed) % 13) as f32 - 6.0;
        Rgb(base.map(|b| (b + n * 0.6).clamp(0.0, 255.0) as u8))
    })
}

/// Writes `s` wrapped to `max_w` pixels from (`x`, `y`); returns the y below the last row.
fn wrapped(
    img: &mut RgbImage,
    font: &FontVec,
    s: &str,
    x: f32,
    y: f32,
    size: f32,
    max_w: f32,
) -> f32 {
    let mut row = String::new();
    let mut y = y;
    for c in s.chars() {
        row.push(c);
        if text_size(PxScale::from(size), font, &row).0 as f32 > max_w {
            row.pop();
            text(img, font, &row, x, y, size, INK);
            y += size * 1.45;
            row = c.to_string();
        }
    }
    if !row.is_empty() {
        text(img, font, &row, x, y, size, INK);
        y += size * 1.45;
    }
    y
}

/// Barcode-like bars for a number (not a real symbology: decoration the OCR must ignore).
fn bars(img: &mut RgbImage, value: &str, x: i32, y: i32, w: u32, h: u32) {
    let mut cx = x;
    let unit = (w / (value.len() as u32 * 11).max(1)).max(1) as i32;
    for (i, b) in value.bytes().enumerate() {
        for k in 0..4 {
            let width = 1 + ((b as usize + i * 3 + k) % 3) as i32;
            if (k + i) % 2 == 0 {
                draw_filled_rect_mut(img, Rect::at(cx, y).of_size((width * unit) as u32, h), INK);
            }
            cx += width * unit + unit;
        }
    }
}

/// A printed express waybill (thermal-label style), 1100x760.
pub fn waybill(v: &WaybillValues, font: &FontVec, rng: &mut fastrand::Rng) -> RgbImage {
    let (w, h) = (1100u32, 760u32);
    let mut img = paper(w, h, rng);
    let frame = Rgb([40, 40, 40]);
    draw_hollow_rect_mut(&mut img, Rect::at(20, 20).of_size(w - 40, h - 40), frame);
    for y in [150, 330, 520] {
        draw_filled_rect_mut(&mut img, Rect::at(20, y).of_size(w - 40, 2), frame);
    }
    let s = 33.0 + rng.f32() * 4.0;
    // Header: carrier, routing code.
    text(&mut img, font, &v.carrier, 50.0, 45.0, 54.0, INK);
    text(&mut img, font, &v.routing_code, 560.0, 50.0, 52.0, INK);
    // Tracking number under bars.
    bars(&mut img, &v.tracking_number, 60, 165, 520, 90);
    text(
        &mut img,
        font,
        &format!("运单号：{}", v.tracking_number),
        60.0,
        268.0,
        s + 2.0,
        INK,
    );
    // Recipient block, then sender block.
    text(
        &mut img,
        font,
        &format!("收件人：{}  {}", v.recipient_name, v.recipient_phone),
        60.0,
        350.0,
        s + 4.0,
        INK,
    );
    wrapped(
        &mut img,
        font,
        &format!("收件地址：{}", v.recipient_address),
        60.0,
        405.0,
        s,
        980.0,
    );
    text(
        &mut img,
        font,
        &format!("寄件人：{}  {}", v.sender_name, v.sender_phone),
        60.0,
        545.0,
        s,
        INK,
    );
    wrapped(
        &mut img,
        font,
        &format!("寄件地址：{}", v.sender_address),
        60.0,
        600.0,
        s - 2.0,
        980.0,
    );
    img
}

/// One synthetic waybill photo, with its manifest fields.
pub fn waybill_record(font: &FontVec, rng: &mut fastrand::Rng) -> (RgbImage, serde_json::Value) {
    let v = WaybillValues::random(rng);
    let flat = waybill(&v, font, rng);
    let fields = serde_json::json!({
        "carrier": v.carrier, "tracking_number": v.tracking_number,
        "sender_name": v.sender_name, "sender_phone": v.sender_phone,
        "sender_address": v.sender_address, "recipient_name": v.recipient_name,
        "recipient_phone": v.recipient_phone, "recipient_address": v.recipient_address,
        "routing_code": v.routing_code,
    });
    let (w, h) = (rng.u32(1600..2200), rng.u32(1200..1650));
    (documents::photograph_in(&flat, rng, 0.1, w, h), fields)
}

/// Capital in Chinese financial numerals for 1..=9999 (ten-thousands of yuan), e.g. 305 ->
/// 叁佰零伍.
pub fn financial_numerals(n: u32) -> String {
    const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
    const UNITS: [&str; 4] = ["仟", "佰", "拾", ""];
    let ds = [n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10];
    let mut out = String::new();
    let mut zero = false;
    for (i, &d) in ds.iter().enumerate() {
        if d == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        out.push(DIGITS[d as usize]);
        out.push_str(UNITS[i]);
    }
    out
}

/// Random business-license values with a valid credit code.
#[derive(Debug, Clone)]
pub struct LicenseValues {
    /// 统一社会信用代码.
    pub credit_code: String,
    /// 名称.
    pub name: String,
    /// 类型.
    pub kind: String,
    /// 法定代表人.
    pub legal_representative: String,
    /// 注册资本, as printed.
    pub registered_capital: String,
    /// The capital in yuan.
    pub capital_yuan: f64,
    /// 成立日期, `YYYY年MM月DD日`.
    pub established_date: String,
    /// 营业期限, `… 至 …` or `长期`.
    pub business_term: String,
    /// 住所.
    pub address: String,
    /// 经营范围.
    pub scope: String,
    /// 登记机关.
    pub registration_authority: String,
}

impl LicenseValues {
    /// Random values.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
        let (address, region) = address(rng, true);
        let org: String = (0..9)
            .map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())]))
            .collect();
        let body = format!("91{region}{org}");
        let credit_code = format!("{body}{}", check::credit_code_check(&body).unwrap_or('0'));
        let city = PLACES
            .iter()
            .find(|p| p.2 == region)
            .map_or("上海市", |p| p.1);
        let wan = [10, 50, 100, 200, 300, 500, 1000, 1200, 305, 88][rng.usize(..10)];
        let registered_capital = if rng.bool() {
            format!("人民币{}万元整", financial_numerals(wan))
        } else {
            format!("{wan}万元人民币")
        };
        let (y, m, d) = random_date(rng, 1995..2024);
        let established_date = format!("{y:04}年{m:02}月{d:02}日");
        let business_term = match rng.u8(0..3) {
            0 => "长期".to_string(),
            1 => format!("{established_date}至长期"),
            _ => format!(
                "{established_date}至{:04}年{m:02}月{:02}日",
                y + 30,
                d.min(28)
            ),
        };
        let mut scope: Vec<&str> = Vec::new();
        while scope.len() < rng.usize(2..5) {
            let s = pick(rng, SCOPES);
            if !scope.contains(&s) {
                scope.push(s);
            }
        }
        let district = address
            .split_once('市')
            .map(|(_, rest)| rest.split_once('区').map_or("", |(d, _)| d))
            .unwrap_or("")
            .to_string();
        LicenseValues {
            credit_code,
            name: format!(
                "{}{}{}{}有限公司",
                city.trim_end_matches('市'),
                pick_char(rng, BRAND),
                pick_char(rng, BRAND),
                pick(rng, TRADES)
            ),
            kind: pick(rng, COMPANY_TYPES).to_string(),
            legal_representative: person(rng),
            registered_capital,
            capital_yuan: f64::from(wan) * 10_000.0,
            established_date,
            business_term,
            address,
            scope: format!(
                "{}。（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
                scope.join("；")
            ),
            registration_authority: format!("{city}{district}区市场监督管理局"),
        }
    }
}

/// A business license (2015+ layout, simplified), 1600x1130: title, credit code, two columns
/// of labelled fields (values right of their labels, long ones wrapped), the registration
/// authority at the bottom right over a red seal.
pub fn business_license(v: &LicenseValues, font: &FontVec, rng: &mut fastrand::Rng) -> RgbImage {
    let (w, h) = (1600u32, 1130u32);
    let mut img = paper(w, h, rng);
    let border = Rgb([180, 60, 40]);
    for i in 0..8 {
        draw_hollow_rect_mut(
            &mut img,
            Rect::at(24 + i, 24 + i).of_size(w - 48 - 2 * i as u32, h - 48 - 2 * i as u32),
            border,
        );
    }
    text(&mut img, font, "营业执照", 620.0, 70.0, 96.0, INK);
    let s = 33.0 + rng.f32() * 3.0;
    let line = s * 1.45;
    text(
        &mut img,
        font,
        &format!("统一社会信用代码 {}", v.credit_code),
        90.0,
        220.0,
        s,
        INK,
    );
    let (lx, vx, vw) = (90.0, 300.0, 480.0);
    let (rx, rvx, rvw) = (860.0, 1060.0, 460.0);
    let mut y = 320.0;
    for (label, value) in [
        ("名称", v.name.as_str()),
        ("类型", v.kind.as_str()),
        ("法定代表人", v.legal_representative.as_str()),
        ("经营范围", v.scope.as_str()),
    ] {
        text(&mut img, font, label, lx, y, s, INK);
        y = wrapped(&mut img, font, value, vx, y, s, vw) + 0.5 * line;
    }
    let mut y = 320.0;
    for (label, value) in [
        ("注册资本", v.registered_capital.as_str()),
        ("成立日期", v.established_date.as_str()),
        ("营业期限", v.business_term.as_str()),
        ("住所", v.address.as_str()),
    ] {
        text(&mut img, font, label, rx, y, s, INK);
        y = wrapped(&mut img, font, value, rvx, y, s, rvw) + 0.5 * line;
    }
    // The seal: a red ring behind the authority's name.
    let red = Rgb([215, 60, 60]);
    for r in [110, 108, 106] {
        imageproc::drawing::draw_hollow_circle_mut(&mut img, (1240, 960), r, red);
    }
    let y = y.max(880.0);
    text(&mut img, font, "登记机关", rx, y, s, INK);
    wrapped(&mut img, font, &v.registration_authority, rvx, y, s, rvw);
    img
}

/// One synthetic business-license photo, with its manifest fields.
pub fn business_license_record(
    font: &FontVec,
    rng: &mut fastrand::Rng,
) -> (RgbImage, serde_json::Value) {
    let v = LicenseValues::random(rng);
    let flat = business_license(&v, font, rng);
    let fields = serde_json::json!({
        "credit_code": v.credit_code, "name": v.name, "type": v.kind,
        "legal_representative": v.legal_representative,
        "registered_capital": v.registered_capital, "established_date": v.established_date,
        "business_term": v.business_term, "address": v.address, "scope": v.scope,
        "registration_authority": v.registration_authority,
    });
    let (w, h) = (rng.u32(1800..2400), rng.u32(1350..1800));
    (documents::photograph_in(&flat, rng, 0.1, w, h), fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::normalize;

    #[test]
    fn financial_numerals_read_back() {
        for (n, s) in [
            (100, "壹佰"),
            (305, "叁佰零伍"),
            (1200, "壹仟贰佰"),
            (50, "伍拾"),
            (1005, "壹仟零伍"),
        ] {
            assert_eq!(financial_numerals(n), s);
            let parsed = normalize::chinese_amount(&format!("人民币{s}万元整"));
            assert_eq!(parsed, Some(f64::from(n) * 10_000.0), "{s}");
        }
    }

    #[test]
    fn generated_values_pass_their_checks() {
        let mut rng = fastrand::Rng::with_seed(21);
        for _ in 0..200 {
            let w = WaybillValues::random(&mut rng);
            assert!(
                check::tracking_number(&w.tracking_number).is_some(),
                "{}",
                w.tracking_number
            );
            assert!(check::phone(&w.sender_phone) && check::phone(&w.recipient_phone));
            let l = LicenseValues::random(&mut rng);
            assert!(check::credit_code(&l.credit_code), "{}", l.credit_code);
            assert_eq!(
                normalize::chinese_amount(&l.registered_capital),
                Some(l.capital_yuan)
            );
        }
    }
}
