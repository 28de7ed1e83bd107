//! StringCollection methods (stringcollection-transformations.md).

use crate::catalog::Method;

pub(crate) const METHODS: &[Method] = &[];
