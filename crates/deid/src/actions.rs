//! The actions of Table E.1-1 and the rows that carry them.

use dicom_core::Tag;

/// What the profile does to one attribute (PS3.15 Table E.1-1's action codes; a compound code
/// such as `X/Z` lets the de-identifier pick, see [`Action::resolved`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// D: replace with a dummy value consistent with the VR.
    D,
    /// Z: replace with a zero-length value (or a dummy value consistent with the VR).
    Z,
    /// X: remove.
    X,
    /// K: keep (an option's override).
    K,
    /// C: clean (not used by the Basic Profile; kept for the options).
    C,
    /// U: replace a UID by a consistent pseudonym.
    U,
    /// X/Z: remove, or empty where the IOD needs the attribute.
    XZ,
    /// X/D: remove, or a dummy where the IOD needs a value.
    XD,
    /// X/Z/D: remove, empty or dummy, as the IOD needs.
    XZD,
    /// Z/D: empty, or a dummy where the IOD needs a value.
    ZD,
    /// X/Z/U*: remove, empty, or (a sequence of references) its UIDs replaced.
    XZU,
}

impl Action {
    /// The simple action applied for a compound code, chosen so that the result stays valid for
    /// any IOD without knowing the attribute's type in it: `X/Z` becomes `Z` (an empty value
    /// satisfies Type 2 and 3), `X/D`, `Z/D` and `X/Z/D` become `D` (a dummy value satisfies
    /// Type 1), `X/Z/U*` becomes `U` (the references are kept, their UIDs replaced).
    pub fn resolved(self) -> Action {
        match self {
            Action::XZ => Action::Z,
            Action::XD | Action::ZD | Action::XZD => Action::D,
            Action::XZU => Action::U,
            simple => simple,
        }
    }
}

/// One row of Table E.1-1: a tag (or a repeating group such as `(60xx,3000)`), the Basic
/// Profile's action, and whether the full-dates option keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    group: u16,
    group_mask: u16,
    element: u16,
    element_mask: u16,
    /// The Basic Profile's action.
    pub basic: Action,
    /// `K` under the Retain Longitudinal Temporal Information with Full Dates Option.
    pub kept_with_dates: bool,
    /// The attribute's keyword.
    pub name: &'static str,
}

impl Rule {
    /// A row; the masks select the bits of group and element that must match (`0xFF00` for a
    /// `60xx` group, `0x0000` for an `xxxx` element).
    pub const fn new(
        group: u16,
        group_mask: u16,
        element: u16,
        element_mask: u16,
        basic: Action,
        kept_with_dates: bool,
        name: &'static str,
    ) -> Self {
        Self {
            group,
            group_mask,
            element,
            element_mask,
            basic,
            kept_with_dates,
            name,
        }
    }

    /// Whether `tag` is this row's attribute.
    pub fn matches(&self, tag: Tag) -> bool {
        tag.group() & self.group_mask == self.group
            && tag.element() & self.element_mask == self.element
    }

    /// A tag this row names (the first of a repeating group).
    pub fn example_tag(&self) -> Tag {
        Tag(self.group, self.element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_codes_resolve_to_an_action_valid_for_any_type() {
        assert_eq!(Action::XZ.resolved(), Action::Z);
        assert_eq!(Action::XZD.resolved(), Action::D);
        assert_eq!(Action::ZD.resolved(), Action::D);
        assert_eq!(Action::XZU.resolved(), Action::U);
        assert_eq!(Action::X.resolved(), Action::X);
    }
}
