//! Building blocks the scenes share.

pub mod compare;
pub mod download;
pub mod focus;
pub mod glossary;
pub mod headers;
pub mod joins;
pub mod matrix;
pub mod player;
pub mod policy_editor;
pub mod predict;
pub mod topology;
