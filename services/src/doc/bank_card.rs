//! Bank cards: the card number, read by the specialised bank-card recognisers (with the general
//! recogniser, restricted to digits, consulted when they are unsure), the expiry, the holder
//! name, and the issuing bank, network and card type from the BIN table.
//!
//! Two entry points: [`BankCardReader::read_number`] for a crop that is already the number (a
//! scanning app's number line, or one 4-digit group) and [`BankCardReader::read_card`] for a
//! photo of the card.

use super::{Field, check, locate, read_options};
use image::RgbImage;
use ocr_core::ocr::rectify;
use ocr_core::ocr::{
    Alternative, Char, Engine, Line, LineRecognizer, OcrError, Point, Quad, ReadOptions,
};
use ocr_core::runtime::Model;
use serde::Serialize;
use std::cmp::Ordering;

/// The committed first bank-card number recogniser (int8; `models/train/bankcard` trains it,
/// with pen-stroke, real-mark and low-contrast augmentation).
pub static NUMBER_MODEL: &[u8] = include_bytes!("../../../models/zoo/bankcard-rec-int8-pen.kmod");

/// The committed second bank-card number recogniser (same network and data, another seed,
/// plain augmentation): it errs on other crops than the first.
pub static NUMBER_MODEL_SECOND: &[u8] =
    include_bytes!("../../../models/zoo/bankcard-rec-int8.kmod");

/// The committed bank-card number recognisers, in the order [`BankCardReader`] runs them.
pub static NUMBER_MODELS: &[&[u8]] = &[NUMBER_MODEL, NUMBER_MODEL_SECOND];

/// A specialised reading whose least confident digit is below this counts as unsure: the
/// general recogniser reads the crop too (digits only), and the reader chooses among
/// the two readings and their fusion. Picked on the training run's synthetic validation
/// crops (`kestrel synth card-numbers --seed 2002`, 500 crops, no scored crop): exact 95.8%
/// at 0.6, 96.2% at 0.8 and 0.9, 96.4% at 0.95.
pub const UNSURE: f32 = 0.9;

/// Characters a card number line may hold.
const NUMBER_CHARS: &str = "0123456789 ";

/// The `recognizer` of a field read by the specialised recognisers.
const BANKCARD: &str = "bankcard";
/// The `recognizer` of a field read by the general recogniser.
const GENERAL: &str = "general";
/// The `recognizer` of a field fused from specialised and general readings.
const FUSED: &str = "bankcard+general";

/// What the BIN table knows about a card number's prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinInfo {
    /// Issuing bank (Chinese name), where the table knows it.
    pub bank: Option<&'static str>,
    /// Card network by the ISO/IEC 7812 prefix ranges.
    pub network: &'static str,
    /// `debit` or `credit`, where the table knows it.
    pub card_type: Option<&'static str>,
}

/// Issuer prefixes of major Chinese banks (public BIN lists): (prefix, bank, card type).
/// Longest prefix wins.
const BINS: &[(&str, &str, Option<&str>)] = &[
    ("622202", "中国工商银行", Some("debit")),
    ("622208", "中国工商银行", Some("debit")),
    ("621226", "中国工商银行", Some("debit")),
    ("621225", "中国工商银行", Some("debit")),
    ("620200", "中国工商银行", Some("debit")),
    ("622230", "中国工商银行", Some("credit")),
    ("622235", "中国工商银行", Some("credit")),
    ("955880", "中国工商银行", Some("debit")),
    ("622848", "中国农业银行", Some("debit")),
    ("622845", "中国农业银行", Some("debit")),
    ("622846", "中国农业银行", Some("debit")),
    ("622821", "中国农业银行", Some("debit")),
    ("622836", "中国农业银行", Some("credit")),
    ("95599", "中国农业银行", Some("debit")),
    ("621661", "中国银行", Some("debit")),
    ("621663", "中国银行", Some("debit")),
    ("621785", "中国银行", Some("debit")),
    ("621786", "中国银行", Some("debit")),
    ("621787", "中国银行", Some("debit")),
    ("621788", "中国银行", Some("debit")),
    ("621790", "中国银行", Some("debit")),
    ("601382", "中国银行", Some("debit")),
    ("456351", "中国银行", Some("debit")),
    ("622760", "中国银行", Some("credit")),
    ("621700", "中国建设银行", Some("debit")),
    ("622700", "中国建设银行", Some("debit")),
    ("622280", "中国建设银行", Some("debit")),
    ("436742", "中国建设银行", Some("debit")),
    ("436745", "中国建设银行", Some("credit")),
    ("622166", "中国建设银行", Some("credit")),
    ("622260", "交通银行", Some("debit")),
    ("622262", "交通银行", Some("debit")),
    ("601428", "交通银行", Some("debit")),
    ("405512", "交通银行", Some("debit")),
    ("622588", "招商银行", Some("debit")),
    ("622580", "招商银行", Some("debit")),
    ("621286", "招商银行", Some("debit")),
    ("621483", "招商银行", Some("debit")),
    ("621485", "招商银行", Some("debit")),
    ("621486", "招商银行", Some("debit")),
    ("622575", "招商银行", Some("credit")),
    ("410062", "招商银行", Some("credit")),
    ("622188", "中国邮政储蓄银行", Some("debit")),
    ("622150", "中国邮政储蓄银行", Some("debit")),
    ("622151", "中国邮政储蓄银行", Some("debit")),
    ("621098", "中国邮政储蓄银行", Some("debit")),
    ("621799", "中国邮政储蓄银行", Some("debit")),
    ("622690", "中信银行", Some("debit")),
    ("622691", "中信银行", Some("debit")),
    ("621771", "中信银行", Some("debit")),
    ("433670", "中信银行", Some("credit")),
    ("622660", "中国光大银行", Some("debit")),
    ("622661", "中国光大银行", Some("debit")),
    ("622662", "中国光大银行", Some("debit")),
    ("622622", "中国民生银行", Some("debit")),
    ("622615", "中国民生银行", Some("debit")),
    ("415599", "中国民生银行", Some("debit")),
    ("622909", "兴业银行", Some("debit")),
    ("622908", "兴业银行", Some("debit")),
    ("438588", "兴业银行", Some("debit")),
    ("622521", "上海浦东发展银行", Some("debit")),
    ("622522", "上海浦东发展银行", Some("debit")),
    ("622523", "上海浦东发展银行", Some("debit")),
    ("621792", "上海浦东发展银行", Some("debit")),
    ("622155", "平安银行", Some("debit")),
    ("622156", "平安银行", Some("debit")),
    ("622157", "平安银行", Some("debit")),
    ("621626", "平安银行", Some("debit")),
    ("622630", "华夏银行", Some("debit")),
    ("622631", "华夏银行", Some("debit")),
    ("622632", "华夏银行", Some("debit")),
    ("622568", "广发银行", Some("debit")),
    ("621462", "广发银行", Some("debit")),
];

/// Looks a card number (digits, spaces ignored) up in the BIN table.
pub fn bin_info(number: &str) -> Option<BinInfo> {
    let digits = digits_of(number);
    if digits.len() < 6 {
        return None;
    }
    let two: u32 = digits[..2].parse().ok()?;
    let four: u32 = digits[..4].parse().ok()?;
    let network = match two {
        62 | 81 => "UnionPay",
        34 | 37 => "American Express",
        35 => "JCB",
        30 | 36 | 38 => "Diners Club",
        51..=55 => "Mastercard",
        _ if (2221..=2720).contains(&four) => "Mastercard",
        _ if digits.starts_with("6011") || digits.starts_with("65") => "Discover",
        _ if digits.starts_with('4') => "Visa",
        _ if digits.starts_with("95") || digits.starts_with("60") => "UnionPay",
        _ => return None,
    };
    let issuer = BINS
        .iter()
        .filter(|(p, _, _)| digits.starts_with(p))
        .max_by_key(|(p, _, _)| p.len());
    Some(BinInfo {
        bank: issuer.map(|i| i.1),
        network,
        card_type: issuer.and_then(|i| i.2),
    })
}

/// The fields of a bank card (`None`: not found on the image).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BankCard {
    /// The card's corners in the photo (clockwise from the card's top-left as read): its
    /// outline, or the photo's own corners when no outline was found or used.
    #[serde(rename = "box")]
    pub quad: Quad,
    /// Whether the card was read upside down and turned.
    pub turned: bool,
    /// Card number, printed grouping kept (`6222 0212 3456 7890`).
    pub card_number: Option<Field>,
    /// Expiry, `MM/YY`.
    pub expiry: Option<Field>,
    /// Holder name as printed (Latin capitals).
    pub holder_name: Option<Field>,
    /// Issuing bank: from the BIN table, or a bank name printed on the card.
    pub bank_name: Option<Field>,
    /// What the BIN table says about the number.
    pub bin: Option<BinInfo>,
}

field_list!(BankCard {
    "card_number" => card_number,
    "expiry" => expiry,
    "holder_name" => holder_name,
    "bank_name" => bank_name,
});

/// Reads bank cards: the specialised number recognisers beside a general engine.
pub struct BankCardReader {
    /// An ensemble: all read every number (they are small); the general recogniser reads it
    /// too when the first is unsure.
    numbers: Vec<LineRecognizer>,
}

impl BankCardReader {
    /// The reader with the committed bank-card recognisers, on `engine`'s threads.
    pub fn new(engine: &Engine) -> Result<Self, OcrError> {
        let models = NUMBER_MODELS
            .iter()
            .map(|bytes| Model::from_bytes(bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_models(engine, models)
    }

    /// The reader with another number recogniser (digits and space dictionary).
    pub fn with_model(engine: &Engine, model: Model) -> Result<Self, OcrError> {
        Self::with_models(engine, vec![model])
    }

    /// The reader with other number recognisers (digits and space dictionaries), in order:
    /// all read every number, and the first one's doubt calls in the general recogniser.
    /// At least one.
    pub fn with_models(engine: &Engine, models: Vec<Model>) -> Result<Self, OcrError> {
        if models.is_empty() {
            return Err(OcrError::Model(
                "a bank-card reader needs at least one number recogniser".into(),
            ));
        }
        Ok(BankCardReader {
            numbers: models
                .into_iter()
                .map(|m| engine.load_recognizer(m))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The first specialised number recogniser.
    pub fn recognizer(&self) -> &LineRecognizer {
        &self.numbers[0]
    }

    /// All specialised number recognisers, in the order they run.
    pub fn recognizers(&self) -> &[LineRecognizer] {
        &self.numbers
    }

    /// Reads an image that is the card number (a whole number line or one group).
    pub fn read_number(&self, engine: &Engine, img: &RgbImage) -> Result<Field, OcrError> {
        let mut readings = Vec::with_capacity(self.numbers.len() + 1);
        for number in &self.numbers {
            readings.push((number.recognize_line(img, None)?, BANKCARD));
        }
        if unsure(&readings[0].0) {
            readings.push((engine.recognize_line(img, &digits_only())?, GENERAL));
        }
        Ok(number_field(readings))
    }

    /// Reads a number row (or band) of a card with both recognisers, as [`number_field`]
    /// combines them; the field's box is the region.
    fn read_number_region(
        &self,
        engine: &Engine,
        card: &RgbImage,
        region: Quad,
    ) -> Result<Field, OcrError> {
        let crop = rectify::crop(card, &region);
        let mut readings = Vec::with_capacity(self.numbers.len() + 1);
        for number in &self.numbers {
            let line = number
                .recognize(std::slice::from_ref(&crop), None, 1, None)?
                .remove(0);
            readings.push((line, BANKCARD));
        }
        let general = engine
            .recognize_crops(
                vec![crop],
                &digits_only(),
                &mut ocr_core::ocr::StageTimings::default(),
            )?
            .remove(0);
        readings.push((general, GENERAL));
        let mut field = number_field(readings);
        field.quad = Some(region);
        Ok(field)
    }

    /// The expiry read right of its label, when no line held a date: the detector may box a
    /// small two-line label (`VALID` over `THRU`) together with the date, and that box reads
    /// as neither. The band right of the label, four label heights tall and twelve long, is
    /// read with digits and `/` only.
    fn expiry_beside_label(
        &self,
        engine: &Engine,
        img: &RgbImage,
        lines: &[Line],
    ) -> Result<Option<Field>, OcrError> {
        let Some(label) = lines.iter().find(|l| {
            let upper = l.text.to_uppercase();
            EXPIRY_LABELS.iter().any(|w| upper.contains(w))
        }) else {
            return Ok(None);
        };
        let q = &label.quad;
        let h = locate::height(q);
        let (ux, uy) = locate::direction(q);
        let (nx, ny) = (-uy, ux);
        let at = |p: Point, along: f32, across: f32| {
            Point::new(
                p.x + along * h * ux + across * h * nx,
                p.y + along * h * uy + across * h * ny,
            )
        };
        let band = [
            at(q[1], 0.0, -1.5),
            at(q[1], 12.0, -1.5),
            at(q[2], 12.0, 1.5),
            at(q[2], 0.0, 1.5),
        ]
        .map(|p| {
            Point::new(
                p.x.clamp(0.0, img.width() as f32),
                p.y.clamp(0.0, img.height() as f32),
            )
        });
        let read = super::reread_quad(engine, img, &band, "0123456789/")?;
        Ok(find_expiry(&read.text).map(|text| Field {
            valid: Some(check::card_expiry(&text)),
            text,
            quad: Some(band),
            ..Field::from_line(&read, None, "general")
        }))
    }

    /// Reads a photo of a card: the general engine finds the lines; the number line is re-read
    /// with the specialised recognisers.
    ///
    /// The card is rectified first when its outline shows. An outline can be wrong (a pattern
    /// printed on the card, a sub-rectangle of it, a corner pulled off by a faint edge, or a
    /// photo that is all card), so when the number read there does not both pass the Luhn
    /// check and come in a printed grouping (an outline that cuts the number can still give
    /// a reading that passes, once in ten by chance or by repair) the photo is read again as
    /// it is, and the more plausible number wins (passing the check and grouped as printed,
    /// then passing, then grouped).
    /// When the number passes on the warped card but the name or the expiry was not found
    /// there (an outline that cuts a corner off), the photo read as it is fills them in if it
    /// reads the same number: a card printed without a name costs two reads.
    /// Before that, the card is also read turned over from the way its lines voted: embossed
    /// digits upside down can read as a confident, long but failing number that outvotes the
    /// small name and date (the classifier sees much the same relief either way up). Turned,
    /// a number that passes the check, in a printed grouping (groups may run together), and
    /// read at least as surely replaces it.
    pub fn read_card(&self, engine: &Engine, img: &RgbImage) -> Result<BankCard, OcrError> {
        let located = locate::readable_documents(img, Some(locate::ID1_ASPECT));
        let Some(outline) = located.first().filter(|l| l.outlined) else {
            return Ok(self
                .read_rectified(engine, locate::Rectified::whole(img), false, true)?
                .0);
        };
        let doc = locate::Rectified::new(img, &outline.quad, Some(locate::ID1_SIZE));
        let (mut card, mut doc) = self.read_rectified(engine, doc, true, true)?;
        if number_rank(card.card_number.as_ref()).0 {
            // An outline that cuts a corner off, or a warp that blurs small print, can lose
            // the name or the date: the photo read as it is fills them in when it reads the
            // same number.
            if card.holder_name.is_none() || card.expiry.is_none() {
                let whole = self
                    .read_rectified(engine, locate::Rectified::whole(img), false, true)?
                    .0;
                let digits = |c: &BankCard| c.card_number.as_ref().map(|f| digits_of(&f.text));
                if digits(&whole) == digits(&card) {
                    card.holder_name = card.holder_name.take().or(whole.holder_name);
                    card.expiry = card.expiry.take().or(whole.expiry);
                }
            }
            return Ok(card);
        }
        doc.turn();
        let turned = self.read_rectified(engine, doc, true, false)?.0;
        if let Some(n) = &turned.card_number
            && n.valid == Some(true)
            && merges_printed_grouping(&n.text)
            && card
                .card_number
                .as_ref()
                .is_none_or(|c| n.confidence >= c.confidence)
        {
            return Ok(turned);
        }
        let whole = self
            .read_rectified(engine, locate::Rectified::whole(img), false, true)?
            .0;
        // Equally plausible, the surer reading wins: a number repaired into passing the check
        // reads less surely than one that passed as read.
        let (w, c) = (whole.card_number.as_ref(), card.card_number.as_ref());
        let sureness = |f: Option<&Field>| f.map_or(0.0, |f| f.confidence);
        if number_rank(w) > number_rank(c)
            || (number_rank(w) == number_rank(c) && sureness(w) > sureness(c))
        {
            card = whole;
        }
        Ok(card)
    }

    /// Reads the card in `doc`, which is the card warped from its outline when `outlined`, or
    /// else the photo as it is; turned upright by its lines' vote when `vote`, else read as it
    /// stands. Returns the card and the document as it was read.
    fn read_rectified(
        &self,
        engine: &Engine,
        mut doc: locate::Rectified,
        outlined: bool,
        vote: bool,
    ) -> Result<(BankCard, locate::Rectified), OcrError> {
        let page = match vote {
            true => super::read_upright(engine, &mut doc)?,
            false => super::read_as_is(engine, &doc)?,
        };
        let img = &doc.image;
        let number_line = number_row(&page.lines).map(|mut row| {
            // Groups the detector missed lie on the same row: widen it by about a group on
            // each side, along the row's own direction (a photo that could not be rectified
            // may hold the card at an angle), within the card (or the photo).
            let (lo, hi) = if outlined {
                (0.03 * img.width() as f32, 0.97 * img.width() as f32)
            } else {
                (0.0, img.width() as f32)
            };
            row.quad = widen_row(&row.quad, lo, hi, img.height() as f32);
            row
        });
        let mut card_number = match &number_line {
            Some(line) => Some(self.read_number_region(engine, img, line.quad)?),
            None => None,
        };
        let mut number_y = number_line.as_ref().map(centre_y);
        // Layout fallback on an outlined card: ISO/IEC 7811 puts the embossed number line
        // about 60% of the way down an ID-1 card (printed cards vary around it). When the
        // detector found no number row (dark embossing on a busy background) or what it found
        // fails the Luhn check, read three overlapping bands there: a reading that passes the
        // check wins (over a row's whole but failing number only when at least as confident:
        // [`outranks`]); with no row found at all, the reading with the most digits stands in
        // (marked invalid).
        if outlined && card_number.as_ref().is_none_or(|f| f.valid != Some(true)) {
            let (w, h) = (img.width() as f32, img.height() as f32);
            let mut best: Option<Field> = None;
            for top in [0.46, 0.52, 0.58] {
                let band = across_card(w, h, 0.04, top, top + 0.18);
                let field = self.read_number_region(engine, img, band)?;
                let better = best.as_ref().is_none_or(|b| {
                    (field.valid == Some(true), digit_count(&field.text))
                        > (b.valid == Some(true), digit_count(&b.text))
                });
                if better {
                    best = Some(field);
                }
            }
            // Faint embossing on a patterned card reads poorly in a loose band (the digits
            // fill half of it): read the row the digits' vertical strokes show, cropped tight.
            if best.as_ref().is_none_or(|b| b.valid != Some(true))
                && let Some((top, bottom)) = stroke_row(img)
            {
                for margin in [0.01, 0.02] {
                    let band = across_card(w, h, 0.03, top - margin, bottom + margin);
                    let field = self.read_number_region(engine, img, band)?;
                    if field.valid == Some(true) && merges_printed_grouping(&field.text) {
                        best = Some(field);
                        break;
                    }
                }
            }
            if let Some(f) = best
                && (f.valid == Some(true) || card_number.is_none())
                && outranks(&f, card_number.as_ref())
                && digit_count(&f.text) >= 13
            {
                number_y = number_y.or(f.quad.as_ref().map(|q| (q[0].y + q[3].y) / 2.0));
                card_number = Some(f);
            }
        }
        // Anchor fallback, for any photo: the number line lies above the expiry ("VALID THRU
        // 12/24"), about three expiry-line heights from it, and runs parallel to it. When no
        // row that passes the Luhn check has been read yet, read bands there, across the
        // whole photo along the expiry line's direction; only a reading that passes the check
        // is taken, on the same terms.
        if card_number.as_ref().is_none_or(|f| f.valid != Some(true))
            && let Some(anchor) = page
                .lines
                .iter()
                .rev()
                .find(|l| find_expiry(&l.text).is_some())
        {
            for (near, far) in [(0.8, 4.5), (1.5, 5.5), (2.5, 6.5)] {
                let band = band_above(&anchor.quad, near, far, img.width() as f32);
                let field = self.read_number_region(engine, img, band)?;
                if field.valid == Some(true) && outranks(&field, card_number.as_ref()) {
                    number_y = Some(locate::centre(&band).y);
                    card_number = Some(field);
                    break;
                }
            }
        }
        // The latest date printed (a card that prints two prints the start of validity
        // first).
        let expiry = page
            .lines
            .iter()
            .filter_map(|l| find_expiry(&l.text).map(|text| (l, text)))
            .max_by_key(|(_, text)| (text[3..].to_string(), text[..2].to_string()))
            .map(|(l, text)| Field {
                valid: Some(check::card_expiry(&text)),
                text,
                ..Field::from_line(l, None, "general")
            });
        let expiry = match expiry {
            Some(e) => Some(e),
            None => self.expiry_beside_label(engine, img, &page.lines)?,
        };
        // The holder name: below the number, the lowest candidate (a business card prints
        // the company's name between the number and the holder's).
        let holder_name = name_rows(&page.lines)
            .into_iter()
            .filter(|l| number_y.is_none_or(|y| centre_y(l) > y))
            .max_by(|a, b| centre_y(a).total_cmp(&centre_y(b)))
            .map(|l| Field {
                text: l.text.trim().to_string(),
                ..Field::from_line(&l, None, "general")
            });
        let bin = card_number.as_ref().and_then(|f| bin_info(&f.text));
        let bank_name = match bin.as_ref().and_then(|b| b.bank) {
            Some(bank) => Some(Field {
                text: bank.to_string(),
                confidence: card_number.as_ref().map_or(0.0, |f| f.confidence),
                quad: None,
                valid: None,
                corrected: false,
                recognizer: "bin-table",
            }),
            None => page
                .lines
                .iter()
                .find(|l| l.text.contains("银行") || l.text.to_ascii_uppercase().contains("BANK"))
                .map(|l| Field::from_line(l, None, "general")),
        };
        let mut card = BankCard {
            quad: doc.quad,
            turned: doc.turned,
            card_number,
            expiry,
            holder_name,
            bank_name,
            bin,
        };
        for f in card.slots_mut() {
            super::to_photo(f, &doc);
        }
        Ok((card, doc))
    }
}

/// The band of a `w` x `h` card between the rows `top` and `bottom` (fractions of its height),
/// `margin` of its width in from each side.
fn across_card(w: f32, h: f32, margin: f32, top: f32, bottom: f32) -> Quad {
    [
        Point::new(margin * w, top * h),
        Point::new((1.0 - margin) * w, top * h),
        Point::new((1.0 - margin) * w, bottom * h),
        Point::new(margin * w, bottom * h),
    ]
}

/// The rows (fractions of the card's height) of the number line on a rectified card, found
/// by the vertical strokes of its digits: `None` when no row stands out.
///
/// Embossed digits on a patterned card can be too faint for the detector, but their strokes
/// still change the grey level across a row far more than a horizontal pattern (stripes,
/// gradients) does. Per image row, the mean horizontal gradient is taken in 16 blocks across
/// the card and their 40th percentile kept: the number runs across most blocks, the expiry
/// and the name across few. The row window about one digit high (9% of the card, ISO/IEC
/// 7811's 4.3 mm of 54 mm plus relief) with the most of it, its top between 42% and 68% of
/// the card, is the number's when it holds clearly more than the region's typical row.
fn stroke_row(card: &RgbImage) -> Option<(f32, f32)> {
    const BLOCKS: usize = 16;
    let grey = image::imageops::grayscale(card);
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let (x0, x1) = (w * 4 / 100, w * 96 / 100);
    let (y0, y1) = (h * 40 / 100, h * 80 / 100);
    if x1 < x0 + 2 * BLOCKS || y1 < y0 + 20 {
        return None;
    }
    let block = (x1 - x0) / BLOCKS;
    let mut profile: Vec<f32> = (y0..y1)
        .map(|y| {
            let mut sums: Vec<f32> = (0..BLOCKS)
                .map(|b| {
                    let start = x0 + b * block;
                    let sum: u32 = (start..start + block)
                        .map(|x| {
                            let a = grey.get_pixel(x as u32, y as u32)[0];
                            u32::from(a.abs_diff(grey.get_pixel(x as u32 + 1, y as u32)[0]))
                        })
                        .sum();
                    sum as f32 / block as f32
                })
                .collect();
            sums.sort_by(f32::total_cmp);
            sums[BLOCKS * 2 / 5]
        })
        .collect();
    let typical = {
        let mut sorted = profile.clone();
        sorted.sort_by(f32::total_cmp);
        sorted[sorted.len() / 2]
    };
    // Prefix sums: the window sums in one pass.
    let mut acc = 0.0;
    for v in profile.iter_mut() {
        acc += *v;
        *v = acc;
    }
    let window = (h * 9 / 100).max(1);
    let (lo, hi) = (h * 42 / 100, h * 68 / 100);
    let (best_top, best_sum) = (lo..=hi)
        .filter(|top| top + window < y1)
        .map(|top| {
            let end = profile[top + window - y0 - 1];
            let start = if top > y0 { profile[top - y0 - 1] } else { 0.0 };
            (top, end - start)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (best_sum / window as f32 > 1.2 * typical).then(|| {
        (
            best_top as f32 / h as f32,
            (best_top + window) as f32 / h as f32,
        )
    })
}

/// Whether a band's reading (which passes the check) may replace the row's: when the row read
/// a whole number that fails the check, in a printed shape (whole number without gaps or a
/// card grouping), only a reading at least as confident replaces it. Six band readings give
/// a number printed to fail the check (a specimen's) about even odds that one of them
/// misreads it into a pass. A failing row in no printed shape (`9 7482 4966 8962 910`: the
/// detector missed a faint first group) is a misreading, not a specimen: a band's passing
/// reading in a printed grouping replaces it.
fn outranks(band: &Field, row: Option<&Field>) -> bool {
    match row {
        Some(r) if r.valid == Some(false) => {
            band.confidence >= r.confidence
                || (!printed_shape(&r.text) && printed_grouping(&band.text))
        }
        _ => true,
    }
}

/// Words that label a card's expiry date, printed left of it (`VALID THRU` stacked in two
/// small lines, `GOOD THRU`, `EXPIRES END`, `有效期`).
const EXPIRY_LABELS: &[&str] = &["THRU", "VALID", "GOOD", "EXPIRES", "EXPIRY", "有效期"];

/// How plausible a card-number reading is, for choosing between readings, most telling first:
/// it passes the Luhn check and is grouped as cards print numbers ([`PRINTED_GROUPINGS`]); it
/// passes the check (one odd reading in ten does by chance); it is grouped as printed; it has
/// 13 to 19 digits. A specimen number (which need not pass the check) read whole still beats
/// a reading that lost a group.
fn number_rank(field: Option<&Field>) -> (bool, bool, bool, bool) {
    let Some(f) = field else {
        return (false, false, false, false);
    };
    let grouped = printed_grouping(&f.text);
    let valid = f.valid == Some(true);
    (
        valid && grouped,
        valid,
        grouped,
        (13..=19).contains(&digit_count(&f.text)),
    )
}

/// Group lengths card numbers are printed in: 16 digits in fours (most networks), 15 as
/// 4-6-5 (American Express), 14 as 4-6-4 (Diners Club), 19 as 6-13 or in fours (UnionPay).
const PRINTED_GROUPINGS: &[&[usize]] = &[
    &[4, 4, 4, 4],
    &[4, 6, 5],
    &[4, 6, 4],
    &[6, 13],
    &[4, 4, 4, 4, 3],
];

/// The band between `near` and `far` line heights above the line `q` (centre to edge), parallel
/// to it and as long as the photo is wide.
fn band_above(q: &Quad, near: f32, far: f32, image_w: f32) -> Quad {
    let (ux, uy) = locate::direction(q);
    let (nx, ny) = (-uy, ux);
    let h = locate::height(q);
    let c = locate::centre(q);
    // Along the line to the photo's left and right edges (its direction is near horizontal:
    // the page was turned upright).
    let ux_safe = if ux.abs() < 0.5 { 0.5 } else { ux };
    let (left, right) = (-c.x / ux_safe, (image_w - c.x) / ux_safe);
    let at = |t: f32, k: f32| Point::new(c.x + t * ux - k * h * nx, c.y + t * uy - k * h * ny);
    [
        at(left, far),
        at(right, far),
        at(right, near),
        at(left, near),
    ]
}

/// A number row's region grown by three line heights at each end, along the row, and by 35%
/// of a line height above and below, across it; corners are kept to `lo..hi` in x and to the
/// image's height in y.
fn widen_row(q: &Quad, lo: f32, hi: f32, image_h: f32) -> Quad {
    let h = locate::height(q);
    locate::grow(q, 3.0 * h, 0.35 * h)
        .map(|p| Point::new(p.x.clamp(lo, hi), p.y.clamp(0.0, image_h)))
}

/// The card-number row: digit-heavy lines on one row (the detector often boxes each group
/// apart) joined left to right into one line spanning them; the row with the most digits, if
/// it has at least 12. A line is on a seed's row when its centre lies within half a line
/// height of the seed's centre line, extended along the seed's direction (a tilted card's
/// row climbs or falls across the photo).
fn number_row(lines: &[Line]) -> Option<Line> {
    let digity: Vec<&Line> = lines
        .iter()
        .filter(|l| {
            let n = digit_count(&l.text);
            let len = l.text.chars().filter(|c| !c.is_whitespace()).count();
            n >= 3 && n * 10 >= len * 6
        })
        .collect();
    let height = |l: &Line| locate::height(&l.quad);
    let mut best: Option<(usize, Line)> = None;
    for seed in &digity {
        let (ux, uy) = locate::direction(&seed.quad);
        let o = locate::centre(&seed.quad);
        let mut row: Vec<&Line> = digity
            .iter()
            .copied()
            .filter(|l| {
                let c = locate::centre(&l.quad);
                // Distance across the seed's direction.
                let off = (c.y - o.y) * ux - (c.x - o.x) * uy;
                off.abs() < 0.5 * height(seed).max(height(l))
            })
            .collect();
        row.sort_by(|a, b| a.quad[0].x.total_cmp(&b.quad[0].x));
        let digits: usize = row.iter().map(|l| digit_count(&l.text)).sum();
        if digits >= 12 && best.as_ref().is_none_or(|b| digits > b.0) {
            best = Some((digits, join_row(&row)));
        }
    }
    best.map(|b| b.1)
}

/// Lines of one row, left to right, as one line spanning them (texts joined by spaces, mean
/// confidence; per-character detail is dropped). Where a line's box overlaps the one before
/// (the detector boxed `YOUR` and `R NAME HERE`), its characters inside the earlier box are
/// left out.
fn join_row(row: &[&Line]) -> Line {
    let (first, last) = (row[0], row[row.len() - 1]);
    let mut words = Vec::new();
    let mut right = f32::NEG_INFINITY;
    for l in row {
        if l.chars.is_empty() {
            words.push(l.text.trim().to_string());
        } else {
            let kept: String = l
                .chars
                .iter()
                .filter(|c| locate::centre(&c.quad).x > right)
                .map(|c| c.text.as_str())
                .collect();
            words.push(kept.trim().to_string());
        }
        right = right.max(l.quad[1].x.max(l.quad[2].x));
    }
    words.retain(|w| !w.is_empty());
    Line {
        text: words.join(" "),
        confidence: row.iter().map(|l| l.confidence).sum::<f32>() / row.len() as f32,
        quad: [first.quad[0], last.quad[1], last.quad[2], first.quad[3]],
        angle: first.angle,
        chars: Vec::new(),
    }
}

/// Candidate holder names: runs of Latin-capital words on one row (the detector often boxes
/// `CU` and `MEMBER` apart), joined left to right, that [`looks_like_name`]. A word continues
/// a run when its centre lies within half a line height of the run's last word's centre line
/// and the gap between them is under two line heights (an overlap of up to one line height
/// counts: the detector's boxes may share a letter).
fn name_rows(lines: &[Line]) -> Vec<Line> {
    let caps = |t: &str| {
        let t = t.trim();
        t.chars().any(|c| c.is_ascii_uppercase()) && t.chars().all(name_char)
    };
    let mut words: Vec<&Line> = lines.iter().filter(|l| caps(&l.text)).collect();
    words.sort_by(|a, b| a.quad[0].x.total_cmp(&b.quad[0].x));
    let continues = |a: &Line, b: &Line| {
        let h = locate::height(&a.quad).max(locate::height(&b.quad));
        let (ux, uy) = locate::direction(&a.quad);
        let (ca, cb) = (locate::centre(&a.quad), locate::centre(&b.quad));
        let across = (cb.y - ca.y) * ux - (cb.x - ca.x) * uy;
        let gap = (b.quad[0].x - a.quad[1].x) * ux + (b.quad[0].y - a.quad[1].y) * uy;
        across.abs() < 0.5 * h && gap > -h && gap < 2.0 * h
    };
    let mut rows: Vec<Vec<&Line>> = Vec::new();
    for w in words {
        match rows.iter_mut().find(|r| continues(r[r.len() - 1], w)) {
            Some(row) => row.push(w),
            None => rows.push(vec![w]),
        }
    }
    rows.iter()
        .map(|r| join_row(r))
        .filter(|l| looks_like_name(&l.text))
        .collect()
}

fn digits_only() -> ReadOptions {
    ReadOptions {
        classify: false,
        allowed_chars: Some(NUMBER_CHARS.into()),
        ..read_options()
    }
}

fn unsure(line: &Line) -> bool {
    line.chars.is_empty() || line.chars.iter().any(|c| c.confidence < UNSURE)
}

fn digit_count(s: &str) -> usize {
    s.chars().filter(char::is_ascii_digit).count()
}

/// The digits of `s`, spaces and anything else dropped.
fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn centre_y(l: &Line) -> f32 {
    locate::centre(&l.quad).y
}

/// Single spaces between groups, none at the ends.
fn tidy_number(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The number field from the readings of one number: the specialised recognisers', in order,
/// then, when the first was unsure, the general one's. The
/// digit-by-digit fusion ([`fuse_readings`]) of the most readings that share a grouping is
/// one more candidate. A reading that passes the Luhn check beats one that does not; then
/// one in a printed shape ([`printed_shape`]: a crop read short, `711` for `1711`, is not);
/// then the fusion beats any reading alone; then the more confident wins. A whole number that
/// fails its check is repaired from second choices when exactly one single-digit change
/// makes it pass.
fn number_field(readings: Vec<(Line, &'static str)>) -> Field {
    let mut candidates: Vec<(Line, &str, bool)> = readings
        .into_iter()
        .enumerate()
        .filter(|(i, (l, _))| *i == 0 || !l.text.trim().is_empty())
        .map(|(_, (mut l, recognizer))| {
            regroup_by_gaps(&mut l);
            (l, recognizer, false)
        })
        .collect();
    let mut repaired_fusion = None;
    if let Some((fused, recognizer)) = fuse_most(&candidates) {
        // A fusion that fails the check but repairs into a pass competes as repaired (as a
        // fusion, it outranks a single reading that passes, perhaps by chance). Its digits'
        // probabilities are the readings' averaged, trusted enough to choose the clearly
        // likelier of two passing repairs.
        let repaired = match check::bank_card_number(&fused.text) {
            true => None,
            // The repair is the fused digits (ASCII) run together: grouped as the fusion was.
            false => repair_luhn(&fused, FUSED_REPAIR_DOMINANCE).map(|digits| Line {
                text: in_groups(
                    (0..digits.len()).map(|i| &digits[i..=i]),
                    &group_lengths(&fused.text),
                ),
                ..fused.clone()
            }),
        };
        candidates.push((fused, recognizer, true));
        if let Some(line) = repaired {
            candidates.push((line, recognizer, true));
            repaired_fusion = Some(candidates.len() - 1);
        }
    }
    let rank = |(l, _, fused): &(Line, &str, bool)| {
        (
            check::bank_card_number(&l.text),
            printed_shape(&l.text),
            *fused,
            l.confidence,
        )
    };
    // The first of equals wins: the first specialised reading, then the others in order.
    let best = (1..candidates.len()).fold(0, |best, i| {
        if rank(&candidates[i]).partial_cmp(&rank(&candidates[best])) == Some(Ordering::Greater) {
            i
        } else {
            best
        }
    });
    let corrected = repaired_fusion == Some(best);
    let (line, recognizer, _) = candidates.swap_remove(best);
    let text = strip_stray_groups(&tidy_number(&line.text));
    let digits = digit_count(&text);
    let whole = (13..=19).contains(&digits);
    let mut field = Field {
        valid: whole.then(|| check::bank_card_number(&text)),
        text,
        corrected,
        ..Field::from_line(&line, None, recognizer)
    };
    if field.valid == Some(false)
        && let Some(fixed) = repair_luhn(&line, f32::INFINITY)
    {
        field.text = tidy_number(&fixed);
        field.valid = Some(true);
        field.corrected = true;
    }
    // A number in no printed grouping, passing or not (one in ten passes by chance), may
    // have a stray digit run onto an end group; groups run together are allowed for only
    // when it fails (a whole number read without its gaps passes as it is).
    if whole
        && !printed_grouping(&field.text)
        && let Some(trimmed) = strip_stray_digit(&field.text, field.valid == Some(false))
    {
        field.text = trimmed;
        field.valid = Some(true);
        field.corrected = true;
    }
    field
}

/// How much wider than every gap inside a group each gap between groups must be (centre to
/// centre of neighbouring digits) for [`regroup_by_gaps`] to regroup a reading.
const GROUP_GAP_RATIO: f32 = 1.3;

/// `line` regrouped as the number is printed when it was read in no printed grouping (a
/// whole number read without its gaps, `6200918522953164062`, or with one gap lost,
/// `62833015 3804 9369`): the [`PRINTED_GROUPINGS`] grouping of its digit count whose breaks
/// fall on the widest gaps between the digits' boxes, every break at least
/// [`GROUP_GAP_RATIO`] times as wide as any gap inside a group. The digits stay as read;
/// a reading whose gaps single out no grouping (a number printed without gaps, or one read
/// with a digit too many or too few) stays as it is.
fn regroup_by_gaps(line: &mut Line) {
    if !line.text.chars().all(|c| c.is_ascii_digit() || c == ' ') || printed_grouping(&line.text) {
        return;
    }
    let digits = digit_chars(line);
    if !(13..=19).contains(&digits.len()) || digits.len() != digit_count(&line.text) {
        return;
    }
    let (ux, uy) = locate::direction(&line.quad);
    let along: Vec<f32> = digits
        .iter()
        .map(|c| {
            let p = locate::centre(&c.quad);
            p.x * ux + p.y * uy
        })
        .collect();
    let gaps: Vec<f32> = along.windows(2).map(|w| w[1] - w[0]).collect();
    let mut best: Option<(&[usize], f32)> = None;
    for &grouping in PRINTED_GROUPINGS {
        if grouping.iter().sum::<usize>() != digits.len() {
            continue;
        }
        // Gap i lies between digits i and i + 1: a group ending at `e` breaks at gap e - 1.
        let breaks: Vec<usize> = group_ends(grouping[..grouping.len() - 1].iter().copied())
            .into_iter()
            .map(|e| e - 1)
            .collect();
        let narrowest_break = breaks
            .iter()
            .map(|&i| gaps[i])
            .fold(f32::INFINITY, f32::min);
        let widest_inside = (0..gaps.len())
            .filter(|i| !breaks.contains(i))
            .map(|i| gaps[i])
            .fold(0.0, f32::max);
        let ratio = narrowest_break / widest_inside.max(1e-3);
        if ratio >= GROUP_GAP_RATIO && best.is_none_or(|(_, r)| ratio > r) {
            best = Some((grouping, ratio));
        }
    }
    if let Some((grouping, _)) = best {
        line.text = in_groups(digits.iter().map(|c| c.text.as_str()), grouping);
    }
}

/// The line's characters that are digits, in order.
fn digit_chars(line: &Line) -> Vec<&Char> {
    line.chars
        .iter()
        .filter(|c| !c.text.is_empty() && c.text.chars().all(|ch| ch.is_ascii_digit()))
        .collect()
}

/// The lengths of `text`'s space-separated groups.
fn group_lengths(text: &str) -> Vec<usize> {
    text.split_whitespace().map(str::len).collect()
}

/// Where each group ends (characters from the start) for groups of these lengths.
fn group_ends(lengths: impl Iterator<Item = usize>) -> Vec<usize> {
    lengths
        .scan(0, |end, len| {
            *end += len;
            Some(*end)
        })
        .collect()
}

/// `pieces` (one character each) joined in groups of these lengths, a space between groups.
fn in_groups<'a>(pieces: impl Iterator<Item = &'a str>, grouping: &[usize]) -> String {
    let mut text = String::new();
    let mut next = pieces;
    for (i, &len) in grouping.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.extend(next.by_ref().take(len));
    }
    text
}

/// Whether `text` has a shape a card number or a crop of one is printed in: a
/// [`PRINTED_GROUPINGS`] grouping, a whole number without gaps (13 to 19 digits), or one
/// group of 4 to 6 digits (a group of a number printed in fours, 4-6-5 or 6-13). A lone
/// 3-digit group, the tail of a 4-4-4-4-3 number, does not count: a group read short is far
/// likelier than a crop of that tail alone.
fn printed_shape(text: &str) -> bool {
    let groups = group_lengths(text);
    let all_digits = text.chars().all(|c| c.is_ascii_digit() || c == ' ');
    all_digits
        && match groups.as_slice() {
            [one] => (4..=6).contains(one) || (13..=19).contains(one),
            _ => printed_grouping(text),
        }
}

/// Whether `text`'s groups are one of [`PRINTED_GROUPINGS`].
fn printed_grouping(text: &str) -> bool {
    PRINTED_GROUPINGS.contains(&group_lengths(text).as_slice())
}

/// Whether `text`'s groups are a printed grouping with at most one pair of neighbouring groups
/// run together (`43374769 8626 7274`: the detector missed a gap), every group end one of its
/// ends.
fn merges_printed_grouping(text: &str) -> bool {
    let read = group_ends(group_lengths(text).into_iter());
    PRINTED_GROUPINGS.iter().any(|g| {
        let printed = group_ends(g.iter().copied());
        printed.last() == read.last()
            && read.len() + 1 >= printed.len()
            && read.iter().all(|e| printed.contains(e))
    })
}

/// The number without a stray digit run onto its first or last group (a card's edge or a
/// mark read as `1`, as in `5840 5129 8111 85541`): the unique reading, dropping the first
/// group's first digit or the last group's last, that is grouped as cards print numbers and
/// passes the Luhn check. When `failing` (the number fails as read), groups run together
/// count as printed ([`merges_printed_grouping`]) and dropping a digit at both ends is tried
/// too (`13779 960305 951481`: both edges of an embossed row read as `1`).
fn strip_stray_digit(text: &str, failing: bool) -> Option<String> {
    // Digits and single spaces only (byte cuts below).
    if !text.is_ascii() || text.is_empty() || text.split(' ').any(str::is_empty) {
        return None;
    }
    let (first, last) = (1, text.len() - 1);
    let mut cuts = vec![first..text.len(), 0..last];
    if failing && first < last {
        cuts.push(first..last);
    }
    let mut found: Vec<String> = Vec::new();
    for cut in cuts {
        let candidate = tidy_number(&text[cut]);
        let grouped = match failing {
            true => merges_printed_grouping(&candidate),
            false => printed_grouping(&candidate),
        };
        if grouped && check::bank_card_number(&candidate) && !found.contains(&candidate) {
            found.push(candidate);
        }
    }
    (found.len() == 1).then(|| found.remove(0))
}

/// The fusion ([`fuse_readings`]) of the most readings that share one grouping (at least
/// two; the earliest such set on a tie), with the name of the recognisers fused:
/// `bankcard+general` when the general reading is among them, else `bankcard`.
fn fuse_most(readings: &[(Line, &'static str, bool)]) -> Option<(Line, &'static str)> {
    let groups = |l: &Line| group_lengths(&l.text);
    let mut best: Vec<usize> = Vec::new();
    for (line, _, _) in readings {
        let same: Vec<usize> = (0..readings.len())
            .filter(|&j| groups(&readings[j].0) == groups(line))
            .collect();
        if same.len() > best.len() {
            best = same;
        }
    }
    if best.len() < 2 {
        return None;
    }
    let lines: Vec<&Line> = best.iter().map(|&i| &readings[i].0).collect();
    let general = best.iter().any(|&i| readings[i].1 == GENERAL);
    fuse_readings(&lines).map(|l| (l, if general { FUSED } else { BANKCARD }))
}

/// The readings fused digit by digit, when they all have the same digits in the same groups
/// (else `None`): each digit is the one with the most probability summed over the readings'
/// first and second choices, its confidence that sum over the number of readings, its second
/// choice the runner-up. Where the models disagree on a digit (an embossed 9 that one reads
/// as 5), the one that is surer of its choice, and agrees with the other's second choice,
/// wins; with three readings, two that agree outvote one.
fn fuse_readings(readings: &[&Line]) -> Option<Line> {
    let groups = |l: &Line| group_lengths(&l.text);
    let (&a, rest) = readings.split_first()?;
    let per_reading: Vec<Vec<&Char>> = readings.iter().map(|l| digit_chars(l)).collect();
    let da = &per_reading[0];
    if da.is_empty()
        || per_reading.iter().any(|d| d.len() != da.len())
        || rest.iter().any(|l| groups(l) != groups(a))
    {
        return None;
    }
    let n = readings.len() as f32;
    let mut fused: Vec<Char> = Vec::with_capacity(da.len());
    for (k, x) in da.iter().enumerate() {
        let mut votes: Vec<(&str, f32)> = Vec::new();
        let choices = per_reading.iter().map(|d| d[k]).flat_map(|c| {
            std::iter::once((c.text.as_str(), c.confidence)).chain(
                c.alternative
                    .as_ref()
                    .map(|a| (a.text.as_str(), a.confidence)),
            )
        });
        for (text, p) in choices {
            match votes.iter_mut().find(|v| v.0 == text) {
                Some(v) => v.1 += p,
                None => votes.push((text, p)),
            }
        }
        votes.sort_by(|p, q| q.1.total_cmp(&p.1));
        fused.push(Char {
            text: votes[0].0.to_string(),
            confidence: votes[0].1 / n,
            quad: x.quad,
            alternative: votes.get(1).map(|v| Alternative {
                text: v.0.to_string(),
                confidence: v.1 / n,
            }),
        });
    }
    Some(Line {
        text: in_groups(fused.iter().map(|c| c.text.as_str()), &groups(a)),
        confidence: fused.iter().map(|c| c.confidence).sum::<f32>() / fused.len() as f32,
        quad: a.quad,
        angle: a.angle,
        chars: fused,
    })
}

/// The least probability a second choice needs for the Luhn repair to try it. The check
/// passes one wrong reading in ten by chance, so a repair free to take any second choice
/// "corrects" many a number that is not meant to pass (a specimen card's, such as the dev
/// set's `4000 1234 5678 9010`); a second choice this likely is a genuine rival of the first.
/// Card number on generated bank cards (seed 9002) and the dev set's five specimen cards:
/// 96.5% and 100% with no repair, 97.0% and 100% with this floor, 96.0% and 60% with none.
/// (The ID number's and credit code's checks pass a wrong reading one time in 11 and 31, and
/// their documents carry no specimens: they take any second choice.)
const LUHN_MIN_ALTERNATIVE: f32 = 0.1;

/// `text` without one- or two-digit groups at its ends when what remains is a whole card
/// number that passes the Luhn check; else `text`. No card grouping has such short groups:
/// they are marks the widened row region takes in beside the number (a card's edge reads as
/// a 1). They go even when the whole also passes the check, as one reading in ten does by
/// chance.
fn strip_stray_groups(text: &str) -> String {
    let groups: Vec<&str> = text.split(' ').collect();
    let short = |g: &str| g.len() <= 2;
    let n = groups.len();
    for (from, to) in [(1, n), (0, n.saturating_sub(1)), (1, n.saturating_sub(1))] {
        if from >= to || (from == 1 && !short(groups[0])) || (to < n && !short(groups[n - 1])) {
            continue;
        }
        let rest = groups[from..to].join(" ");
        if (13..=19).contains(&digit_count(&rest)) && check::bank_card_number(&rest) {
            return rest;
        }
    }
    text.to_string()
}

/// The reading that passes the Luhn check when one of the four least confident digits takes
/// the recogniser's second choice (at least [`LUHN_MIN_ALTERNATIVE`] likely): the only one,
/// or the one `dominance` times likelier than any other ([`super::repair_with_alternatives`]).
fn repair_luhn(line: &Line, dominance: f32) -> Option<String> {
    super::repair_with_alternatives(
        &line.chars,
        "0123456789",
        4,
        LUHN_MIN_ALTERNATIVE,
        dominance,
        check::bank_card_number,
    )
}

/// How many times likelier (second choice over first) a fused reading's repair must be than
/// any other passing repair to be chosen among several. Readings alone repair only when one
/// change passes: a band's general reading, repaired to the likelier of two passes, cost a
/// card of seed 9403 (`821207 3878521797955`). Fused, seed 9806's `00191` reads right (the
/// last digit 5 or 6 at 0.43 / 0.40, against a 0 or 1 at 0.68 / 0.27).
const FUSED_REPAIR_DOMINANCE: f32 = 2.0;

/// The latest `MM/YY` date in a line such as `VALID THRU 09/17`, `有效期 09/17` or `GOOD THRU
/// 3/20` (a one-digit month gets its zero); the latest, because a card that prints two dates
/// (`01/14 VALID THRU 01/18`) prints the start of validity first. Dates inside longer runs of
/// digits and slashes (`2019/01/01`) are not expiries.
fn find_expiry(text: &str) -> Option<String> {
    let compact: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let is_digit = |i: usize| compact.get(i).is_some_and(char::is_ascii_digit);
    let mut dates = Vec::new();
    for slash in (0..compact.len()).filter(|&j| compact[j] == '/') {
        let month_len = (1..=3)
            .take_while(|&k| slash >= k && is_digit(slash - k))
            .count();
        let before = slash.checked_sub(month_len + 1);
        if !(1..=2).contains(&month_len)
            || before.is_some_and(|b| compact[b] == '/')
            || !(is_digit(slash + 1) && is_digit(slash + 2))
            || is_digit(slash + 3)
            || compact.get(slash + 3) == Some(&'/')
        {
            continue;
        }
        let digits = |from: usize, to: usize| -> u32 {
            compact[from..to]
                .iter()
                .fold(0, |v, c| v * 10 + c.to_digit(10).unwrap_or(0))
        };
        let month = digits(slash - month_len, slash);
        let year = digits(slash + 1, slash + 3);
        if (1..=12).contains(&month) {
            dates.push((year, month));
        }
    }
    dates
        .into_iter()
        .max()
        .map(|(year, month)| format!("{month:02}/{year:02}"))
}

/// Words printed on cards that are not names.
const NOT_NAMES: &[&str] = &[
    "VALID",
    "THRU",
    "GOOD",
    "FROM",
    "MONTH",
    "YEAR",
    "BANK",
    "VISA",
    "MASTERCARD",
    "DEBIT",
    "CREDIT",
    "PLATINUM",
    "GOLD",
    "CLASSIC",
    "CARD",
    "UNIONPAY",
    "ELECTRON",
    "SINCE",
    "EXPIRES",
    "SIGNATURE",
    "WORLD",
    "BUSINESS",
    "REWARDS",
    "INTERNATIONAL",
    "EXPRESS",
];

/// A holder name: at least four Latin capitals, nothing else but spaces and name punctuation,
/// and no word that is one of [`NOT_NAMES`] or several of them run together (`VALIDTHRU`).
fn looks_like_name(text: &str) -> bool {
    let t = text.trim();
    let letters = t.chars().filter(char::is_ascii_uppercase).count();
    letters >= 4 && t.chars().all(name_char) && !t.split_whitespace().any(made_of_not_names)
}

/// A character a printed holder name may hold: Latin capitals, spaces and name punctuation.
fn name_char(c: char) -> bool {
    c.is_ascii_uppercase() || c == ' ' || c == '.' || c == '-' || c == '\''
}

/// Whether `word` is one or more of [`NOT_NAMES`] run together.
fn made_of_not_names(word: &str) -> bool {
    word.is_empty()
        || NOT_NAMES
            .iter()
            .any(|w| word.strip_prefix(w).is_some_and(made_of_not_names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_core::ocr::{Alternative, Char, Point};

    /// A rectified card (856 x 540) with strong diagonal grey stripes, and vertical strokes
    /// (two thirds of the stripes' contrast) in 16 groups of rows `digit_rows` when given.
    fn striped_card(digit_rows: Option<(u32, u32)>) -> RgbImage {
        RgbImage::from_fn(856, 540, |x, y| {
            let stripe = if ((x + y) / 6) % 2 == 0 { 90 } else { 150 };
            let stroke = digit_rows.is_some_and(|(top, bottom)| {
                (top..bottom).contains(&y) && x > 40 && x < 810 && x % 12 < 3 && (x / 48) % 4 != 3
            });
            let v = if stroke { stripe + 40 } else { stripe };
            image::Rgb([v; 3])
        })
    }

    #[test]
    fn the_number_row_is_found_by_its_strokes_through_a_pattern() {
        // Strokes on rows 300-345 (55.6-63.9% of the card): the window found must cover
        // them, within a few rows.
        let (top, bottom) = stroke_row(&striped_card(Some((300, 345)))).expect("a row");
        assert!((top * 540.0 - 300.0).abs() <= 4.0, "top {top}");
        assert!((bottom * 540.0 - 345.0).abs() <= 6.0, "bottom {bottom}");
        // Stripes alone, however strong, are no row; nor is a card too small to measure.
        assert_eq!(stroke_row(&striped_card(None)), None);
        assert_eq!(stroke_row(&RgbImage::new(20, 12)), None);
    }

    fn line(digits: &[(char, f32, Option<char>)]) -> Line {
        let q = [Point::new(0.0, 0.0); 4];
        let chars: Vec<Char> = digits
            .iter()
            .map(|&(c, p, alt)| Char {
                text: c.to_string(),
                confidence: p,
                quad: q,
                alternative: alt.map(|a| Alternative {
                    text: a.to_string(),
                    confidence: 1.0 - p,
                }),
            })
            .collect();
        Line {
            text: chars.iter().map(|c| c.text.as_str()).collect(),
            confidence: chars.iter().map(|c| c.confidence).sum::<f32>() / chars.len() as f32,
            quad: q,
            angle: 0,
            chars,
        }
    }

    #[test]
    fn luhn_repair_takes_the_unique_passing_second_choice() {
        // 4111 1111 1111 1111 read with its 6th digit as 7 (second choice 1, unsure).
        let read = "4111 1711 1111 1111";
        let chars: Vec<(char, f32, Option<char>)> = read
            .chars()
            .enumerate()
            .map(|(i, c)| match (i, c) {
                (6, _) => (c, 0.4, Some('1')),
                (_, ' ') => (c, 0.99, None),
                _ => (c, 0.99, Some('7')),
            })
            .collect();
        let f = number_field(vec![(line(&chars), BANKCARD)]);
        assert_eq!(f.text, "4111 1111 1111 1111");
        assert_eq!((f.valid, f.corrected), (Some(true), true));
        // A valid number is left alone; a 4-digit group has no check.
        let ok: Vec<_> = "4111 1111 1111 1111"
            .chars()
            .map(|c| (c, 0.9, None))
            .collect();
        let f = number_field(vec![(line(&ok), BANKCARD)]);
        assert_eq!((f.valid, f.corrected), (Some(true), false));
        let group: Vec<_> = "0123".chars().map(|c| (c, 0.9, None)).collect();
        assert_eq!(number_field(vec![(line(&group), BANKCARD)]).valid, None);
    }

    #[test]
    fn luhn_repair_ignores_unlikely_second_choices() {
        // A specimen number (fails the check) read surely: its digits' second choices (5%
        // likely) are no rivals, so it stays as read, marked invalid, though changing its
        // 6th digit to its second choice would pass.
        let read = "4111 1711 1111 1111";
        let chars: Vec<_> = read
            .chars()
            .map(|c| (c, 0.95, (c != ' ').then_some('1')))
            .collect();
        let f = number_field(vec![(line(&chars), BANKCARD)]);
        assert_eq!(f.text, read);
        assert_eq!((f.valid, f.corrected), (Some(false), false));
    }

    /// A general-recogniser number field reading `text`, checked.
    fn number(text: &str, confidence: f32) -> Field {
        Field {
            text: text.into(),
            confidence,
            quad: None,
            valid: Some(check::bank_card_number(text)),
            corrected: false,
            recognizer: "general",
        }
    }

    #[test]
    fn readings_rank_by_check_then_grouping_then_length() {
        let rank = |t: &str| number_rank(Some(&number(t, 0.9)));
        // Valid and printed grouping > valid, odd grouping (a chance pass) > invalid but
        // printed grouping (a specimen) > invalid with a lost group > nothing.
        let order = [
            rank("4111 1111 1111 1111"),
            rank("41111111 1111 1111"),
            rank("4000 1234 5678 9010"),
            rank("6 7678 9876 5432"),
            number_rank(None),
        ];
        assert!(order.windows(2).all(|w| w[0] > w[1]), "{order:?}");
        assert!(rank("3782 822463 10005").0, "4-6-5");
        assert!(rank("622202 1234567890128").2, "6-13");
    }

    /// A line reading `text` between `x0` and `x1` on the row at `y`, its characters spread
    /// evenly.
    fn word(text: &str, x0: f32, x1: f32, y: f32) -> Line {
        let n = text.chars().count() as f32;
        let quad = |a: f32, b: f32| {
            [
                Point::new(a, y - 10.0),
                Point::new(b, y - 10.0),
                Point::new(b, y + 10.0),
                Point::new(a, y + 10.0),
            ]
        };
        let step = (x1 - x0) / n;
        Line {
            text: text.into(),
            confidence: 0.9,
            quad: quad(x0, x1),
            angle: 0,
            chars: text
                .chars()
                .enumerate()
                .map(|(i, c)| Char {
                    text: c.to_string(),
                    confidence: 0.9,
                    quad: quad(x0 + i as f32 * step, x0 + (i + 1) as f32 * step),
                    alternative: None,
                })
                .collect(),
        }
    }

    #[test]
    fn holder_names_join_words_on_a_row() {
        let names = |lines: &[Line]| -> Vec<String> {
            name_rows(lines).into_iter().map(|l| l.text).collect()
        };
        // Words boxed apart on one row join; a far word or another row does not.
        assert_eq!(
            names(&[
                word("MEMBER", 60.0, 150.0, 100.0),
                word("CU", 20.0, 50.0, 102.0),
                word("BANK", 400.0, 460.0, 100.0),
                word("ZHANG SAN", 20.0, 150.0, 150.0),
            ]),
            ["CU MEMBER", "ZHANG SAN"]
        );
        // Overlapping boxes: the letters inside the earlier box are left out.
        assert_eq!(
            names(&[
                word("YOUR", 0.0, 80.0, 100.0),
                word("R NAME HERE", 65.0, 285.0, 100.0)
            ]),
            ["YOUR NAME HERE"]
        );
        // Card words are not names, alone or run together; words containing one may be.
        assert!(names(&[word("VALID THRU", 0.0, 100.0, 100.0)]).is_empty());
        assert!(names(&[word("VALIDTHRU", 0.0, 100.0, 100.0)]).is_empty());
        assert!(looks_like_name("VALUED CARDMEMBER"));
        assert!(!looks_like_name("CU"));
    }

    #[test]
    fn fused_readings_take_each_digit_from_the_surer_model() {
        // The dev set's specimen 4000 1234 5678 9010 (fails the check): the bank-card model
        // reads the embossed 9 as 5 (second choice 9), the general model reads 9 surely.
        let special: Vec<_> = "4000 1234 5678 5010"
            .chars()
            .enumerate()
            .map(|(i, c)| match (i, c) {
                (15, _) => (c, 0.6, Some('9')),
                (_, ' ') => (c, 0.99, None),
                _ => (c, 0.99, Some('8')),
            })
            .collect();
        let general: Vec<_> = "4000 1234 5678 9010"
            .chars()
            .map(|c| (c, 0.95, (c != ' ').then_some('8')))
            .collect();
        let fused = fuse_readings(&[&line(&special), &line(&general)]).unwrap();
        assert_eq!(fused.text, "4000 1234 5678 9010");
        // 9: (0.4 + 0.95) / 2; second choice 5 at 0.6 / 2.
        let nine = &fused.chars[12];
        assert!((nine.confidence - 0.675).abs() < 1e-6, "{nine:?}");
        assert_eq!(nine.alternative.as_ref().unwrap().text, "5");
        let f = number_field(vec![(line(&special), BANKCARD), (line(&general), GENERAL)]);
        assert_eq!(f.text, "4000 1234 5678 9010");
        assert_eq!(
            (f.valid, f.corrected, f.recognizer),
            (Some(false), false, "bankcard+general")
        );
        // Different groupings or lengths do not fuse.
        let other: Vec<_> = "40001234 5678 9010"
            .chars()
            .map(|c| (c, 0.9, None))
            .collect();
        assert!(fuse_readings(&[&line(&special), &line(&other)]).is_none());
        let short: Vec<_> = "4000 1234 5678 901"
            .chars()
            .map(|c| (c, 0.9, None))
            .collect();
        assert!(fuse_readings(&[&line(&special), &line(&short)]).is_none());
    }

    #[test]
    fn a_reading_in_a_printed_shape_beats_one_read_short() {
        let read = |text: &str, p: f32| -> Vec<(char, f32, Option<char>)> {
            text.chars().map(|c| (c, p, None)).collect()
        };
        // The bank-card model loses the cut first digit of `1711` surely; the general
        // model reads all four, unsure.
        let f = number_field(vec![
            (line(&read("711", 0.97)), BANKCARD),
            (line(&read("1711", 0.5)), GENERAL),
        ]);
        assert_eq!((f.text.as_str(), f.recognizer), ("1711", GENERAL));
        for (text, shaped) in [
            ("1711", true),
            ("623456", true),
            ("6222 0212 3456 7890", true),
            ("6222021234567890", true),
            ("4000 123456 78901", true),
            ("711", false),
            ("1234567", false),
            ("6222 02123 4567 890", false),
            ("", false),
        ] {
            assert_eq!(printed_shape(text), shaped, "{text}");
        }
    }

    /// A reading of `printed` whose digits lie where they are printed (10 pixels a digit, a
    /// space as wide as a digit), its text `read` (the same digits, gaps read or not).
    fn laid_out(printed: &str, read: &str) -> Line {
        let box_at = |x: f32| {
            [
                Point::new(x, 0.0),
                Point::new(x + 8.0, 0.0),
                Point::new(x + 8.0, 20.0),
                Point::new(x, 20.0),
            ]
        };
        let chars: Vec<Char> = printed
            .chars()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_digit())
            .map(|(i, c)| Char {
                text: c.to_string(),
                confidence: 0.99,
                quad: box_at(10.0 * i as f32),
                alternative: None,
            })
            .collect();
        let width = 10.0 * printed.len() as f32;
        Line {
            text: read.to_string(),
            confidence: 0.99,
            quad: [
                Point::new(0.0, 0.0),
                Point::new(width, 0.0),
                Point::new(width, 20.0),
                Point::new(0.0, 20.0),
            ],
            angle: 0,
            chars,
        }
    }

    #[test]
    fn readings_regroup_by_the_gaps_between_their_digits() {
        for (printed, read, regrouped) in [
            // Gaps lost, all or one: the widest gaps between the digits give them back.
            (
                "6200 9185 2295 3164 062",
                "6200918522953164062",
                "6200 9185 2295 3164 062",
            ),
            (
                "622886 0291710595591",
                "6228860291710595591",
                "622886 0291710595591",
            ),
            (
                "6283 3015 3804 9369",
                "62833015 3804 9369",
                "6283 3015 3804 9369",
            ),
            ("3743 444877 35904", "3743 44487735904", "3743 444877 35904"),
            // A number printed without gaps stays whole.
            ("6283301538049369", "6283301538049369", "6283301538049369"),
            // Read a digit short: its gaps fit no printed grouping of 15 digits.
            ("6283 3015 3804 936", "628330153804936", "628330153804936"),
            // Already in a printed grouping, or a group crop: untouched.
            (
                "6283 3015 3804 9369",
                "6283 3015 3804 9369",
                "6283 3015 3804 9369",
            ),
            ("6283", "6283", "6283"),
        ] {
            let mut line = laid_out(printed, read);
            regroup_by_gaps(&mut line);
            assert_eq!(line.text, regrouped, "{read}");
        }
        // The number field of such a reading is grouped as printed.
        let f = number_field(vec![(
            laid_out("6245 6505 4514 6486", "62456505 4514 6486"),
            BANKCARD,
        )]);
        assert_eq!(f.text, "6245 6505 4514 6486");
    }

    #[test]
    fn three_readings_fuse_by_majority_and_the_odd_grouping_stays_out() {
        let sure = |text: &str, p: f32| -> Vec<(char, f32, Option<char>)> {
            text.chars().map(|c| (c, p, None)).collect()
        };
        // Two specialised readings agree on 9010, the general one reads 9030 more surely
        // than either: two votes against one.
        let a = line(&sure("4000 1234 5678 9010", 0.8));
        let b = line(&sure("4000 1234 5678 9010", 0.8));
        let g = line(&sure("4000 1234 5678 9030", 0.9));
        let fused = fuse_readings(&[&a, &g, &b]).unwrap();
        assert_eq!(fused.text, "4000 1234 5678 9010");
        let zero = &fused.chars[14];
        assert!((zero.confidence - 1.6 / 3.0).abs() < 1e-6, "{zero:?}");
        // A reading in another grouping is left out of the fusion; the two that share one
        // fuse (the surer 3 wins), named after the recognisers in it.
        let odd = line(&sure("40001234 5678 9030", 0.99));
        let f = number_field(vec![(a.clone(), BANKCARD), (odd, BANKCARD), (g, GENERAL)]);
        assert_eq!(
            (f.text.as_str(), f.recognizer),
            ("4000 1234 5678 9030", FUSED)
        );
        let f = number_field(vec![(a, BANKCARD), (b, BANKCARD)]);
        assert_eq!(f.recognizer, BANKCARD);
    }

    #[test]
    fn a_band_reading_replaces_a_failing_row_only_when_as_sure() {
        let row = number("4000 1234 5678 9010", 0.95);
        assert!(!outranks(&number("4000 1234 5678 9030", 0.9), Some(&row)));
        assert!(outranks(&number("4000 1234 5678 9030", 0.96), Some(&row)));
        assert!(outranks(&number("4111 1111 1111 1111", 0.5), None));
        let group = Field {
            valid: None,
            ..number("4000", 0.99)
        };
        assert!(outranks(&number("4111 1111 1111 1111", 0.5), Some(&group)));
        // A failing row in no printed shape (a first group lost) yields to a band's passing
        // reading in a printed grouping, however sure it was; not to one in another shape.
        let lost = number("9 7482 4966 8962 910", 0.99);
        assert_eq!(lost.valid, Some(false));
        assert!(outranks(
            &number("6249 7482 4966 8962 910", 0.9),
            Some(&lost)
        ));
        assert!(!outranks(
            &number("62497482 4966 8962 910", 0.9),
            Some(&lost)
        ));
    }

    /// Digits of `text` (spaces sure) with `unsure` positions: (index, probability, second
    /// choice, its probability).
    fn unsure_digits(text: &str, unsure: &[(usize, f32, char, f32)]) -> Line {
        let mut l = line(&text.chars().map(|c| (c, 0.99, None)).collect::<Vec<_>>());
        for &(i, p, alt, q) in unsure {
            l.chars[i].confidence = p;
            l.chars[i].alternative = Some(Alternative {
                text: alt.to_string(),
                confidence: q,
            });
        }
        l
    }

    #[test]
    fn a_failing_fusion_repairs_to_the_clearly_likelier_pass() {
        // Seed 9806's `00191`: the number is 5845 2623 8710 2076. Fused, the last digit is 5
        // (0.43) or 6 (0.40) and the 12th 0 (0.68) or 1 (0.27); both changes pass the check,
        // the first 2.35 times likelier. One reading alone (`3711` for `8710`) passes by
        // chance and would otherwise win.
        let fused = unsure_digits(
            "5845262387102075",
            &[(11, 0.68, '1', 0.27), (15, 0.43, '6', 0.40)],
        );
        assert_eq!(repair_luhn(&fused, f32::INFINITY), None);
        assert_eq!(
            repair_luhn(&fused, FUSED_REPAIR_DOMINANCE).as_deref(),
            Some("5845262387102076")
        );
        // Through the reader: the first model's reading in another grouping stays out of the
        // fusion; the second's chance pass and the general's fail fuse into the same digits.
        let first = unsure_digits("5645 2525 110 2036", &[]);
        let second = unsure_digits(
            "5845 2623 3711 2076",
            &[
                (10, 0.5, '8', 0.45),
                (13, 0.45, '0', 0.40),
                (18, 0.55, '5', 0.40),
            ],
        );
        let general = unsure_digits(
            "5845 2623 8710 2075",
            &[(13, 0.95, '1', 0.05), (18, 0.46, '6', 0.25)],
        );
        let f = number_field(vec![
            (first, BANKCARD),
            (second, BANKCARD),
            (general, GENERAL),
        ]);
        assert_eq!(
            (f.text.as_str(), f.valid, f.corrected, f.recognizer),
            ("5845 2623 8710 2076", Some(true), true, FUSED)
        );
    }

    #[test]
    fn a_valid_general_reading_beats_an_invalid_specialised_one() {
        let bad: Vec<_> = "4111 1111 1111 1112"
            .chars()
            .map(|c| (c, 0.95, None))
            .collect();
        let good: Vec<_> = "4111 1111 1111 1111"
            .chars()
            .map(|c| (c, 0.7, None))
            .collect();
        let f = number_field(vec![(line(&bad), BANKCARD), (line(&good), GENERAL)]);
        // Their fusion fails too (the surer 2 wins) and repairs to the same number.
        assert_eq!(
            (f.text.as_str(), f.valid),
            ("4111 1111 1111 1111", Some(true))
        );
    }

    #[test]
    fn stray_short_groups_at_the_ends_go_when_the_rest_passes() {
        // 4111 1111 1111 1111 passes the Luhn check.
        assert_eq!(
            strip_stray_groups("4111 1111 1111 1111 1"),
            "4111 1111 1111 1111"
        );
        assert_eq!(
            strip_stray_groups("7 4111 1111 1111 1111"),
            "4111 1111 1111 1111"
        );
        assert_eq!(
            strip_stray_groups("1 4111 1111 1111 1111 14"),
            "4111 1111 1111 1111"
        );
        // The whole passing the check by chance does not keep the stray group.
        assert_eq!(
            strip_stray_groups("5840 5129 8111 8554 1"),
            "5840 5129 8111 8554"
        );
        // Kept: the rest fails the check, or the end group is a real (long) group.
        assert_eq!(
            strip_stray_groups("4111 1111 1111 1112 1"),
            "4111 1111 1111 1112 1"
        );
        assert_eq!(
            strip_stray_groups("4111 1111 1111 1111 123"),
            "4111 1111 1111 1111 123"
        );
        assert_eq!(strip_stray_groups(""), "");
    }

    #[test]
    fn a_stray_digit_on_an_end_group_goes_when_the_rest_passes() {
        // 5840 5129 8111 8554 passes the Luhn check.
        for failing in [false, true] {
            assert_eq!(
                strip_stray_digit("5840 5129 8111 85541", failing).as_deref(),
                Some("5840 5129 8111 8554")
            );
            assert_eq!(
                strip_stray_digit("15840 5129 8111 8554", failing).as_deref(),
                Some("5840 5129 8111 8554")
            );
            // Not when the rest fails, or is not a printed grouping.
            assert_eq!(strip_stray_digit("5840 5129 8111 85551", failing), None);
            assert_eq!(strip_stray_digit("5840 5129 81118 554", failing), None);
            assert_eq!(strip_stray_digit("584 05129 8111 85541", failing), None);
            assert_eq!(strip_stray_digit("1", failing), None);
            assert_eq!(strip_stray_digit("", failing), None);
        }
        // Groups the detector ran together still end where printed groups end, and a digit
        // strays onto both ends: tried for a number that fails as read.
        assert_eq!(strip_stray_digit("58405129 8111 85541", false), None);
        assert_eq!(
            strip_stray_digit("58405129 8111 85541", true).as_deref(),
            Some("58405129 8111 8554")
        );
        assert_eq!(strip_stray_digit("584051298111 85541", true), None);
        assert_eq!(strip_stray_digit("15840 5129 8111 85541", false), None);
        assert_eq!(
            strip_stray_digit("15840 5129 8111 85541", true).as_deref(),
            Some("5840 5129 8111 8554")
        );
    }

    #[test]
    fn bin_table_and_networks() {
        let icbc = bin_info("6222 0212 3456 7890 123").unwrap();
        assert_eq!(
            (icbc.bank, icbc.network, icbc.card_type),
            (Some("中国工商银行"), "UnionPay", Some("debit"))
        );
        assert_eq!(bin_info("4000123456789010").unwrap().network, "Visa");
        assert_eq!(bin_info("5412751234567890").unwrap().network, "Mastercard");
        assert_eq!(bin_info("2221001234567890").unwrap().network, "Mastercard");
        assert_eq!(
            bin_info("378282246310005").unwrap().network,
            "American Express"
        );
        assert_eq!(bin_info("0123"), None);
    }

    #[test]
    fn expiry_and_name_patterns() {
        assert_eq!(find_expiry("VALID THRU 09/17").as_deref(), Some("09/17"));
        assert_eq!(find_expiry("GOOD THRU 10 / 21").as_deref(), Some("10/21"));
        assert_eq!(find_expiry("13/20"), None);
        assert_eq!(find_expiry("2019/01/01"), None);
        assert_eq!(find_expiry("GOOD THRU 3/20").as_deref(), Some("03/20"));
        assert_eq!(
            find_expiry("01/14 VALID THRU 01/18").as_deref(),
            Some("01/18")
        );
        assert_eq!(find_expiry("123/20"), None);
        assert_eq!(find_expiry("09/175"), None);
        assert!(looks_like_name("M STEPHENS"));
        assert!(!looks_like_name("VALID THRU"));
        assert!(!looks_like_name("4000 1234"));
    }
}
