//! podnet's native side.
//!
//! For now this holds the text front end of the model ([`cli`]): the seed's
//! scenarios, their plans, traces and CNI requirement matrix printed in a
//! terminal. The CNI plugin and the node agent that program real kernels
//! from the same plans come next (see the project's issues).

pub mod cli;
