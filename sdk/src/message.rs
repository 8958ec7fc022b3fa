//! Error messages built without `core::fmt`: formatting machinery (integer and float
//! formatting, padding, `Debug`) would be several kilobytes of a library whose size is a
//! product goal, for a handful of numbers in messages.

use alloc::string::String;

/// A message under construction: text and numbers appended in order.
pub struct Message(String);

impl Message {
    /// Starts a message with `text`.
    pub fn new(text: &str) -> Self {
        Message(String::from(text))
    }

    /// Appends `text`.
    pub fn text(mut self, text: &str) -> Self {
        self.0.push_str(text);
        self
    }

    /// Appends `n` in decimal, with a minus sign when negative.
    pub fn num(mut self, n: i64) -> Self {
        if n < 0 {
            self.0.push('-');
        }
        let mut n = n.unsigned_abs();
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[start..] {
            self.0.push(d as char);
        }
        self
    }

    /// Appends a shape as `[d0, d1, ...]`.
    pub fn dims(mut self, shape: &[usize]) -> Self {
        self.0.push('[');
        for (i, &d) in shape.iter().enumerate() {
            if i > 0 {
                self.0.push_str(", ");
            }
            self = self.num(d as i64);
        }
        self.0.push(']');
        self
    }

    /// The finished message.
    pub fn done(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Message;

    #[test]
    fn numbers_and_shapes_read_as_formatting_would_write_them() {
        for n in [0i64, 7, 10, 4096, -1, -250, i64::MAX, i64::MIN] {
            assert_eq!(Message::new("").num(n).done(), std::format!("{n}"));
        }
        let shape = [1usize, 3, 48, 320];
        let m = Message::new("output ")
            .dims(&shape)
            .text(" for ")
            .num(6625)
            .done();
        assert_eq!(m, std::format!("output {shape:?} for 6625"));
        assert_eq!(Message::new("").dims(&[]).done(), "[]");
    }
}
