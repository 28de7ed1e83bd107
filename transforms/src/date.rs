//! Date methods (date-transformations.md).

use crate::catalog::Method;

pub(crate) const METHODS: &[Method] = &[];
