//! Boolean methods (boolean-transformations.md).

use crate::catalog::Method;

pub(crate) const METHODS: &[Method] = &[];
