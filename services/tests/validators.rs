//! The field validators on real labels from `../shared/eval/dev`.

use ocr_services::doc::check;
use ocr_services::eval;
use std::path::PathBuf;

#[test]
fn every_dev_plate_label_is_a_valid_plate() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/eval/dev");
    let records = eval::load_manifests(&[root.join("plates_LPRNet_Pytorch")]).unwrap();
    assert_eq!(records.len(), 500);
    for r in &records {
        let text = r.entry.text.as_deref().unwrap();
        assert!(check::plate(text), "{text} ({})", r.key);
        // One changed character (a letter for a digit, or an unknown province) must fail.
        let mut broken: Vec<char> = text.chars().collect();
        broken[0] = 'X';
        assert!(!check::plate(&broken.into_iter().collect::<String>()));
    }
}

#[test]
fn the_one_real_check_digit_in_the_dev_id_cards_passes() {
    // The BDCI-2019 contest cards are synthetic and most of their numbers fail the check; this
    // one is well formed, and a one-digit change breaks it.
    let good = "511421197503202509";
    let got = check::id_number(good).expect("valid");
    assert_eq!(
        (got.birth.as_str(), got.sex, got.province),
        ("1975-03-20", "女", "四川省")
    );
    assert!(check::id_number("511421197503202519").is_none());
}
