//! Dictionaries for CTC recognisers: class index <-> character.
//!
//! PP-OCR recognisers predict `1 + N + 1` classes: class 0 is the CTC blank, classes `1..=N`
//! are the dictionary's lines in order, and the last class is a space.
//!
//! `no_std` + `alloc`, so the embeddable SDK shares it.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// A recogniser's class map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charset {
    /// Symbol of each class; index 0 (blank) is the empty string.
    symbols: Vec<String>,
}

/// Why a dictionary could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharsetError(pub String);

impl core::fmt::Display for CharsetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad dictionary: {}", self.0)
    }
}

impl core::error::Error for CharsetError {}

impl Charset {
    /// Builds the PP-OCR class map from a dictionary with one entry per line: blank, the
    /// entries, then a space.
    pub fn from_dictionary(text: &str) -> Result<Self, CharsetError> {
        let mut symbols = vec![String::new()];
        for (i, line) in text.lines().enumerate() {
            let entry = line.strip_suffix('\r').unwrap_or(line);
            if entry.is_empty() {
                let line = decimal(i + 1);
                return Err(CharsetError(["line ", &line, " is empty"].concat()));
            }
            symbols.push(entry.to_string());
        }
        if symbols.len() == 1 {
            return Err(CharsetError("no entries".into()));
        }
        symbols.push(" ".into());
        Ok(Charset { symbols })
    }

    /// Number of classes including blank and space.
    pub fn num_classes(&self) -> usize {
        self.symbols.len()
    }

    /// Symbol of a class (`None` for blank or out of range).
    pub fn symbol(&self, class: usize) -> Option<&str> {
        match class {
            0 => None,
            c => self.symbols.get(c).map(String::as_str),
        }
    }

    /// Class of a symbol, if it is in the map.
    pub fn class_of(&self, symbol: &str) -> Option<usize> {
        self.symbols
            .iter()
            .skip(1)
            .position(|s| s == symbol)
            .map(|i| i + 1)
    }
}

/// `n` in decimal. Not `format!`: the SDK links this crate, and `core::fmt` would cost its
/// size-first library kilobytes for one number in one message.
fn decimal(mut n: usize) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from(b'0' + (n % 10) as u8));
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_blank_entries_space() {
        let c = Charset::from_dictionary("a\nb\n").unwrap();
        assert_eq!(c.num_classes(), 4);
        assert_eq!(c.symbol(0), None);
        assert_eq!(c.symbol(1), Some("a"));
        assert_eq!(c.symbol(3), Some(" "));
        assert_eq!(c.class_of("b"), Some(2));
        assert_eq!(
            Charset::from_dictionary("a\n\nb").unwrap_err().0,
            "line 2 is empty"
        );
        let twelfth_empty = "x\n".repeat(11) + "\ny\n";
        let e = Charset::from_dictionary(&twelfth_empty).unwrap_err();
        assert_eq!(e.to_string(), "bad dictionary: line 12 is empty");
    }

    #[test]
    fn ppocr_dictionary_has_6625_classes() {
        let dict = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/models-src/ppocr_keys_v1.txt"
        );
        let text = std::fs::read_to_string(dict)
            .expect("shared/models-src is present beside the checkout");
        assert_eq!(Charset::from_dictionary(&text).unwrap().num_classes(), 6625);
    }
}
