//! Result types: the same shapes in the library, the JSON output (schema version
//! [`SCHEMA_VERSION`]) and the protobuf messages.

use serde::{Deserialize, Serialize};

/// Version of the JSON schema of [`Page`] (bumped on incompatible changes).
pub const SCHEMA_VERSION: u32 = 1;

/// A point in image pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Column.
    pub x: f32,
    /// Row.
    pub y: f32,
}

impl Point {
    /// A point.
    pub fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }

    /// Linear interpolation `self + t * (other - self)`.
    pub fn lerp(self, other: Point, t: f32) -> Point {
        Point::new(
            self.x + t * (other.x - self.x),
            self.y + t * (other.y - self.y),
        )
    }

    /// Euclidean distance.
    pub fn dist(self, other: Point) -> f32 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt()
    }
}

/// A quadrilateral: top-left, top-right, bottom-right, bottom-left (clockwise in image
/// coordinates, "top" being the text's top).
pub type Quad = [Point; 4];

/// One recognised character.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Char {
    /// The character (a dictionary entry; usually one code point).
    pub text: String,
    /// Probability of the character at its first CTC time step.
    pub confidence: f32,
    /// Its box in image coordinates, from the CTC time steps it spans.
    pub quad: Quad,
    /// The recogniser's second choice at the same time step, if any: what a check-digit
    /// repair tries first where this character is unsure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<Alternative>,
}

/// A character the recogniser ranked second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    /// The character.
    pub text: String,
    /// Its probability at that time step.
    pub confidence: f32,
}

/// One recognised text line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The text.
    pub text: String,
    /// Mean confidence of its characters (0 for an empty line).
    pub confidence: f32,
    /// Its box in image coordinates.
    pub quad: Quad,
    /// 0, or 180 when the classifier turned the line upside down before recognising it.
    pub angle: u16,
    /// Its characters.
    pub chars: Vec<Char>,
}

/// The text of one image, lines in reading order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// Image width in pixels (after EXIF orientation).
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Lines in reading order.
    pub lines: Vec<Line>,
}

impl Page {
    /// All line texts joined by newlines.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
