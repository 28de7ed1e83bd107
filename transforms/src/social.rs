//! Social account methods (social-transformations.md).

use crate::catalog::Method;

pub(crate) const METHODS: &[Method] = &[];
