//! Synthetic document photos with random valid field values: Chinese resident ID cards (front
//! and back) and bank cards. Each is drawn flat at its canonical size, then photographed: put
//! on a random desk, turned (sometimes upside down), seen in perspective, lit unevenly, with
//! glare, blur, noise and JPEG. Records carry the fields in the dev-set manifest format.

use super::card_number::{self, CardFonts, CardStyle};
use crate::doc::{check, normalize};
use ab_glyph::{FontVec, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_filled_ellipse_mut, draw_text_mut};
use imageproc::geometric_transformations::Projection;

pub(super) const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
pub(super) const GIVEN: &str = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红文斌宇浩然欣怡涵梓轩萱思远晨阳鹏飞俊峰玉婷雪琳佳慧德福海波辉龙云凤春梅光荣金山林永新家宁安";
const CITIES: &[&str] = &[
    "德州市",
    "南充市",
    "眉山市",
    "长沙市",
    "苏州市",
    "洛阳市",
    "绵阳市",
    "桂林市",
    "大连市",
    "温州市",
    "泉州市",
    "赣州市",
    "宜昌市",
    "襄阳市",
    "株洲市",
    "保定市",
    "唐山市",
    "潍坊市",
    "徐州市",
    "无锡市",
    "昆明市",
    "贵阳市",
    "兰州市",
    "银川市",
    "太原市",
    "合肥市",
    "南宁市",
];
const COUNTIES: &[&str] = &[
    "乐陵市",
    "仁寿县",
    "南部县",
    "开州区",
    "东城区",
    "城关区",
    "高新区",
    "新华区",
    "平山县",
    "龙泉驿区",
    "武侯区",
    "江宁区",
    "鼓楼区",
    "雁塔区",
    "长安区",
    "清河县",
    "临泉县",
    "永和县",
];
const TOWNS: &[&str] = &[
    "化楼镇",
    "伏虎镇",
    "虞丞乡",
    "三汇口乡",
    "青岗岭村",
    "时家村",
    "人民路",
    "解放路",
    "建设路",
    "中山路",
    "和平街道",
    "胜利街",
    "光明村",
    "新华街",
    "文化路",
    "朝阳路",
    "幸福里",
    "团结村",
];

pub(super) fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

pub(super) fn pick_char(rng: &mut fastrand::Rng, chars: &str) -> char {
    let v: Vec<char> = chars.chars().collect();
    v[rng.usize(..v.len())]
}

pub(super) fn random_date(rng: &mut fastrand::Rng, years: std::ops::Range<u32>) -> (u32, u32, u32) {
    loop {
        let (y, m, d) = (rng.u32(years.clone()), rng.u32(1..13), rng.u32(1..32));
        if check::real_date(y, m, d) {
            return (y, m, d);
        }
    }
}

/// Random, internally consistent ID card values.
#[derive(Debug, Clone)]
pub struct IdValues {
    /// 姓名.
    pub name: String,
    /// 男 / 女.
    pub sex: &'static str,
    /// One of the 56 groups.
    pub ethnicity: &'static str,
    /// (year, month, day).
    pub birth: (u32, u32, u32),
    /// 住址.
    pub address: String,
    /// A number that passes GB 11643-1999 and matches birth and sex.
    pub id_number: String,
    /// 签发机关.
    pub authority: String,
    /// `YYYY.MM.DD`.
    pub valid_from: String,
    /// `YYYY.MM.DD` or 长期.
    pub valid_to: String,
}

impl IdValues {
    /// Draws values.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        let mut name = pick_char(rng, SURNAMES).to_string();
        for _ in 0..rng.usize(1..3) {
            name.push(pick_char(rng, GIVEN));
        }
        let sex = if rng.bool() { "男" } else { "女" };
        let ethnicity = if rng.u8(0..10) < 6 {
            "汉"
        } else {
            normalize::ETHNIC_GROUPS[rng.usize(..normalize::ETHNIC_GROUPS.len())]
        };
        let birth = random_date(rng, 1940..2009);
        let prefixes: Vec<u32> = (11..83)
            .filter(|p| check::province_of(*p).is_some())
            .collect();
        let prefix = prefixes[rng.usize(..prefixes.len())];
        let province = check::province_of(prefix).unwrap_or("北京市");
        let (city, county) = (pick(rng, CITIES), pick(rng, COUNTIES));
        let mut address = format!("{province}{city}{county}{}", pick(rng, TOWNS));
        if rng.bool() {
            address.push_str(&format!("{}号", rng.u32(1..300)));
        }
        let seq = rng.u32(0..100) * 10 + rng.u32(0..5) * 2 + u32::from(sex == "男");
        let body = format!(
            "{prefix:02}{:04}{:04}{:02}{:02}{seq:03}",
            rng.u32(100..10000),
            birth.0,
            birth.1,
            birth.2
        );
        let id_number = format!("{body}{}", check::id_number_check(&body).unwrap_or('0'));
        let authority = if rng.bool() {
            format!("{city}公安局")
        } else {
            format!("{}{county}公安局", city.trim_end_matches('市'))
        };
        let from = random_date(rng, 2005.max(birth.0 + 16)..2026.max(birth.0 + 17));
        let from = if from.1 == 2 && from.2 == 29 {
            (from.0, 2, 28)
        } else {
            from
        };
        let age = from.0.saturating_sub(birth.0);
        let years = if age < 26 {
            10
        } else if age < 46 {
            20
        } else {
            0
        };
        let valid_to = if years == 0 {
            "长期".to_string()
        } else {
            format!("{}.{:02}.{:02}", from.0 + years, from.1, from.2)
        };
        IdValues {
            name,
            sex,
            ethnicity,
            birth,
            address,
            id_number,
            authority,
            valid_from: format!("{}.{:02}.{:02}", from.0, from.1, from.2),
            valid_to,
        }
    }
}

const LABEL_BLUE: Rgb<u8> = Rgb([40, 110, 170]);
pub(super) const INK: Rgb<u8> = Rgb([25, 25, 30]);

/// A pale card background with fine guilloche-like waves.
fn card_paper(w: u32, h: u32, rng: &mut fastrand::Rng) -> RgbImage {
    let base = [
        rng.f32() * 20.0 + 225.0,
        rng.f32() * 15.0 + 232.0,
        rng.f32() * 20.0 + 228.0,
    ];
    let (f1, f2, p) = (
        rng.f32() * 0.05 + 0.02,
        rng.f32() * 0.05 + 0.02,
        rng.f32() * 6.0,
    );
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let wave = ((fx * f1 + (fy * f2).sin() * 3.0 + p).sin() * 6.0).min(4.0);
        Rgb(base.map(|b| (b + wave - fy / h as f32 * 10.0).clamp(0.0, 255.0) as u8))
    })
}

pub(super) fn text(
    img: &mut RgbImage,
    font: &FontVec,
    s: &str,
    x: f32,
    y: f32,
    size: f32,
    ink: Rgb<u8>,
) {
    draw_text_mut(img, ink, x as i32, y as i32, PxScale::from(size), font, s);
}

/// Text with extra letter spacing (the card prints its labels spread out).
fn spaced(img: &mut RgbImage, font: &FontVec, s: &str, x: f32, y: f32, size: f32, gap: f32) {
    let mut x = x;
    for c in s.chars() {
        text(img, font, &c.to_string(), x, y, size, LABEL_BLUE);
        x += size + gap;
    }
}

/// The front of an ID card at 856x540.
pub fn id_front(v: &IdValues, font: &FontVec, rng: &mut fastrand::Rng) -> RgbImage {
    let mut img = card_paper(856, 540, rng);
    let (ls, vs) = (26.0, 30.0 + rng.f32() * 4.0);
    let gap = 18.0;
    spaced(&mut img, font, "姓名", 60.0, 60.0, ls, gap);
    text(&mut img, font, &v.name, 160.0, 56.0, vs + 2.0, INK);
    spaced(&mut img, font, "性别", 60.0, 130.0, ls, gap);
    text(&mut img, font, v.sex, 160.0, 126.0, vs, INK);
    spaced(&mut img, font, "民族", 290.0, 130.0, ls, gap);
    text(&mut img, font, v.ethnicity, 390.0, 126.0, vs, INK);
    spaced(&mut img, font, "出生", 60.0, 200.0, ls, gap);
    let (y, m, d) = v.birth;
    text(&mut img, font, &y.to_string(), 160.0, 196.0, vs, INK);
    text(&mut img, font, "年", 240.0, 200.0, ls, LABEL_BLUE);
    text(&mut img, font, &m.to_string(), 290.0, 196.0, vs, INK);
    text(&mut img, font, "月", 335.0, 200.0, ls, LABEL_BLUE);
    text(&mut img, font, &d.to_string(), 385.0, 196.0, vs, INK);
    text(&mut img, font, "日", 430.0, 200.0, ls, LABEL_BLUE);
    spaced(&mut img, font, "住址", 60.0, 270.0, ls, gap);
    let chars: Vec<char> = v.address.chars().collect();
    for (i, row) in chars.chunks(11).enumerate() {
        let s: String = row.iter().collect();
        text(&mut img, font, &s, 160.0, 266.0 + i as f32 * 42.0, vs, INK);
    }
    text(&mut img, font, "公民身份号码", 60.0, 450.0, ls, LABEL_BLUE);
    let mut x = 300.0;
    for c in v.id_number.chars() {
        text(&mut img, font, &c.to_string(), x, 444.0, 34.0, INK);
        x += 25.0;
    }
    // The portrait: a grey head and shoulders on a light panel.
    let tone = rng.u8(120..200);
    draw_filled_ellipse_mut(
        &mut img,
        (700, 360),
        110,
        70,
        Rgb([tone / 2, tone / 2, tone / 2 + 20]),
    );
    draw_filled_ellipse_mut(
        &mut img,
        (700, 200),
        62,
        80,
        Rgb([tone, tone - 20, tone - 40]),
    );
    img
}

/// The back of an ID card at 856x540.
pub fn id_back(v: &IdValues, font: &FontVec, rng: &mut fastrand::Rng) -> RgbImage {
    let mut img = card_paper(856, 540, rng);
    // The national emblem, simplified: a red disc with a gold ring.
    draw_filled_circle_mut(&mut img, (150, 150), 80, Rgb([200, 160, 60]));
    draw_filled_circle_mut(&mut img, (150, 150), 66, Rgb([200, 40, 40]));
    text(&mut img, font, "中华人民共和国", 300.0, 80.0, 48.0, INK);
    text(&mut img, font, "居民身份证", 300.0, 160.0, 64.0, INK);
    text(&mut img, font, "签发机关", 170.0, 390.0, 26.0, INK);
    text(&mut img, font, &v.authority, 320.0, 386.0, 30.0, INK);
    text(&mut img, font, "有效期限", 170.0, 455.0, 26.0, INK);
    let period = format!("{}-{}", v.valid_from, v.valid_to);
    text(&mut img, font, &period, 320.0, 451.0, 30.0, INK);
    img
}

/// Random values for a bank card: a Luhn-valid number, expiry, holder name and issuer.
#[derive(Debug, Clone)]
pub struct BankCardValues {
    /// As printed (groups separated by spaces).
    pub number: String,
    /// `MM/YY`.
    pub expiry: String,
    /// Latin capitals.
    pub holder: String,
    /// Issuing bank, from the BIN table where the prefix is one of its issuers.
    pub bank: Option<String>,
}

const LATIN_NAMES: &[&str] = &[
    "ZHANG WEI",
    "WANG FANG",
    "LI NA",
    "LIU YANG",
    "CHEN JIE",
    "YANG TAO",
    "HUANG MIN",
    "ZHAO LEI",
    "WU JING",
    "ZHOU QIANG",
    "XU LING",
    "SUN HAO",
    "MA LI",
    "ZHU HUA",
    "HU JUN",
    "GUO PING",
];

impl BankCardValues {
    /// Draws values.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        loop {
            let number = card_number::random_number(rng);
            if number.len() > 4 {
                let bank = crate::doc::bank_card::bin_info(&number)
                    .and_then(|b| b.bank)
                    .map(str::to_string);
                return BankCardValues {
                    number,
                    expiry: format!("{:02}/{:02}", rng.u8(1..13), rng.u8(24..40)),
                    holder: pick(rng, LATIN_NAMES).to_string(),
                    bank,
                };
            }
        }
    }
}

/// A bank card at 856x540: card-number line in one of the card styles, expiry, holder and
/// the bank's name.
pub fn bank_card(
    v: &BankCardValues,
    font: &FontVec,
    fonts: &CardFonts,
    rng: &mut fastrand::Rng,
) -> RgbImage {
    let style = match rng.u8(0..10) {
        0..=5 => CardStyle::Embossed,
        6..=7 => CardStyle::Printed,
        8 => CardStyle::FlatMetal,
        _ => CardStyle::Foil,
    };
    let (mut img, ink) = card_number::render_card(&v.number, style, fonts, (856, 540), rng);
    if let Some(bank) = &v.bank {
        text(&mut img, font, bank, 60.0, 50.0, 44.0, ink);
    }
    text(&mut img, font, "VALID THRU", 330.0, 380.0, 16.0, ink);
    text(&mut img, font, &v.expiry, 440.0, 370.0, 32.0, ink);
    text(&mut img, font, &v.holder, 70.0, 440.0, 34.0, ink);
    img
}

/// Photographs a flat document: a desk around it, a turn (upside down with probability
/// `upside_down`), perspective, uneven light, glare, blur, noise and JPEG.
pub fn photograph(doc: &RgbImage, rng: &mut fastrand::Rng, upside_down: f32) -> RgbImage {
    let (w, h) = (rng.u32(1000..1400), rng.u32(760..1050));
    photograph_in(doc, rng, upside_down, w, h)
}

/// [`photograph`] in a `w x h` frame (paper documents are photographed at higher resolution
/// than cards: their text is smaller relative to the page).
pub fn photograph_in(
    doc: &RgbImage,
    rng: &mut fastrand::Rng,
    upside_down: f32,
    w: u32,
    h: u32,
) -> RgbImage {
    let (dw, dh) = (doc.width() as f32, doc.height() as f32);
    let desk = [rng.f32() * 120.0, rng.f32() * 120.0, rng.f32() * 120.0];
    let scale = (w as f32 * (0.5 + rng.f32() * 0.3)) / dw;
    let mut angle = (rng.f32() - 0.5) * 0.35;
    if rng.f32() < upside_down {
        angle += std::f32::consts::PI;
    }
    let (cx, cy) = (
        w as f32 / 2.0 + (rng.f32() - 0.5) * w as f32 * 0.1,
        h as f32 / 2.0 + (rng.f32() - 0.5) * h as f32 * 0.1,
    );
    let (ca, sa) = (angle.cos(), angle.sin());
    let persp = dw * scale * 0.04;
    let src = [(0.0, 0.0), (dw, 0.0), (dw, dh), (0.0, dh)];
    let dst = src.map(|(x, y)| {
        let (px, py) = ((x - dw / 2.0) * scale, (y - dh / 2.0) * scale);
        (
            cx + px * ca - py * sa + (rng.f32() - 0.5) * persp,
            cy + px * sa + py * ca + (rng.f32() - 0.5) * persp,
        )
    });
    let inverse = Projection::from_control_points(dst, src);
    let noise_amp = rng.f32() * 20.0;
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let n = (((x * 7919 + y * 104_729) % 97) as f32 / 97.0 - 0.5) * noise_amp;
        Rgb(desk.map(|c| (c + n).clamp(0.0, 255.0) as u8))
    });
    if let Some(inv) = inverse {
        for y in 0..h {
            for x in 0..w {
                let (u, v) = inv * (x as f32 + 0.5, y as f32 + 0.5);
                if u >= 0.0 && v >= 0.0 && u < dw - 1.0 && v < dh - 1.0 {
                    img.put_pixel(x, y, bilinear(doc, u - 0.5, v - 0.5));
                }
            }
        }
    }
    // Light falling off across the frame, and sometimes a glare spot on the document.
    let (g0, g1) = (0.75 + rng.f32() * 0.35, 0.75 + rng.f32() * 0.35);
    let glare = (rng.u8(0..4) == 0).then(|| {
        let (gx, gy) = dst[rng.usize(..4)];
        (
            (gx + cx) / 2.0,
            (gy + cy) / 2.0,
            60.0 + rng.f32() * 80.0,
            120.0 + rng.f32() * 100.0,
        )
    });
    for (x, y, p) in img.enumerate_pixels_mut() {
        let g = g0 + (g1 - g0) * (x as f32 / w as f32);
        let add = glare.map_or(0.0, |(gx, gy, r, amp)| {
            amp * (-((x as f32 - gx).powi(2) + (y as f32 - gy).powi(2)) / (r * r)).exp()
        });
        for c in p.0.iter_mut() {
            *c = (*c as f32 * g + add).clamp(0.0, 255.0) as u8;
        }
    }
    super::degrade(img, rng)
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (x0, y0) = (x.max(0.0).floor() as u32, y.max(0.0).floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(img.width() - 1),
        (y0 + 1).min(img.height() - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let (fx, fy) = (fx.clamp(0.0, 1.0), fy.clamp(0.0, 1.0));
    let p = |x, y| img.get_pixel(x, y).0.map(|c| c as f32);
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    Rgb([0, 1, 2].map(|i| {
        let top = a[i] + (b[i] - a[i]) * fx;
        let bottom = c[i] + (d[i] - c[i]) * fx;
        (top + (bottom - top) * fy).round() as u8
    }))
}

/// One synthetic ID card side as a photo, with its manifest fields.
pub fn id_card_record(
    font: &FontVec,
    rng: &mut fastrand::Rng,
    front: bool,
) -> (RgbImage, serde_json::Value) {
    let v = IdValues::random(rng);
    let (y, m, d) = v.birth;
    let (flat, fields) = if front {
        (
            id_front(&v, font, rng),
            serde_json::json!({
                "name": v.name, "sex": v.sex, "ethnicity": v.ethnicity,
                "birth_date": format!("{y:04}-{m:02}-{d:02}"), "address": v.address,
                "id_number": v.id_number,
            }),
        )
    } else {
        (
            id_back(&v, font, rng),
            serde_json::json!({
                "authority": v.authority, "valid_from": v.valid_from, "valid_to": v.valid_to,
            }),
        )
    };
    (photograph(&flat, rng, 0.15), fields)
}

/// One synthetic bank card photo, with its manifest fields.
pub fn bank_card_record(
    font: &FontVec,
    fonts: &CardFonts,
    rng: &mut fastrand::Rng,
) -> (RgbImage, serde_json::Value) {
    let v = BankCardValues::random(rng);
    let flat = bank_card(&v, font, fonts, rng);
    let mut fields = serde_json::json!({
        "card_number": v.number.replace(' ', ""), "expiry": v.expiry, "holder_name": v.holder,
    });
    if let Some(bank) = &v.bank {
        fields["bank_name"] = bank.clone().into();
    }
    (photograph(&flat, rng, 0.1), fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_values_pass_their_own_checks() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..300 {
            let v = IdValues::random(&mut rng);
            let n = check::id_number(&v.id_number).expect("valid number");
            let (y, m, d) = v.birth;
            assert_eq!(n.birth, format!("{y:04}-{m:02}-{d:02}"));
            assert_eq!(n.sex, v.sex);
            assert!(normalize::ETHNIC_GROUPS.contains(&v.ethnicity));
            assert!(v.valid_to == "长期" || v.valid_to[5..] == v.valid_from[5..]);
        }
    }

    #[test]
    fn bank_card_values_pass_luhn() {
        let mut rng = fastrand::Rng::with_seed(12);
        for _ in 0..100 {
            let v = BankCardValues::random(&mut rng);
            assert!(check::bank_card_number(&v.number), "{}", v.number);
            assert!(check::card_expiry(&v.expiry));
        }
    }
}
