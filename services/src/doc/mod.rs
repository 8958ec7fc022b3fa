//! Document pipelines (bank card, ID card, waybill, business license, plate, VIN): shared
//! parts. So far the field validators and normalisers; localisation, field extraction and the
//! pipelines themselves build on them.

pub mod check;
pub mod normalize;
