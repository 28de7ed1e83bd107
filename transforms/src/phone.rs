//! Phone number methods (phone-number-claims-transformations.md).

use crate::catalog::Method;

pub(crate) const METHODS: &[Method] = &[];
