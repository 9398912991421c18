//! Declarative macros that turn an ASN.1 `SEQUENCE` or tagged `CHOICE` of the TAP and RAP
//! modules into a Rust type with BER decoding and encoding.
//!
//! Every field is written as `rust_name ("asn1Name"): Option<T> = TAG` or, for a
//! `SEQUENCE OF`, `rust_name ("asn1Name"): Vec<T> = LIST_TAG [ELEMENT_TAG]`, where the tags are
//! the `[APPLICATION n]` numbers of the module (all TAP/RAP types are application-tagged and
//! the modules use `IMPLICIT TAGS`). Decoding accepts fields in any order, rejects a field
//! that appears twice, and skips application elements it does not know: the extension marker
//! `...` of TD.57 (ASN.1 X.680 §52) means a newer release may add them.

/// Defines a struct for an ASN.1 `SEQUENCE` and its [`crate::ber::BerType`] implementation.
macro_rules! ber_sequence {
    (
        $(#[$meta:meta])*
        pub struct $name:ident ($asn:literal) {
            $(
                $(#[$fmeta:meta])*
                $field:ident ($fasn:literal) : $kind:ident < $fty:ty > = $ftag:literal $( [ $etag:literal ] )?,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $kind<$fty>, )*
        }

        impl $name {
            /// Decodes the element's fields into `self` (which starts empty): in place, so
            /// large groups are not moved after decoding.
            pub(crate) fn decode_fields(&mut self, el: &$crate::ber::Element<'_>) -> Result<(), $crate::error::Error> {
                let out = self;
                let mut children = el.children($asn)?;
                loop {
                    let child = match children.next_simple() {
                        Some(c) => c,
                        None if children.is_done() => break,
                        None => match children.next()? {
                            Some(c) => c,
                            None => break,
                        },
                    };
                    if child.tag.class != $crate::ber::Class::Application {
                        continue;
                    }
                    match child.tag.number {
                        $( $ftag => ber_field!(@decode $kind, out.$field, child, $fasn, $asn $(, $etag)?), )*
                        // TD.57: items added after the extension marker are skipped.
                        _ => {}
                    }
                }
                Ok(())
            }
        }

        impl $crate::ber::BerType for $name {
            fn decode_ber(
                el: &$crate::ber::Element<'_>,
                _field: &'static str,
            ) -> Result<Self, $crate::error::Error> {
                let mut out = Self::default();
                out.decode_fields(el)?;
                Ok(out)
            }

            #[inline]
            fn decode_into(
                slot: &mut Option<Self>,
                el: &$crate::ber::Element<'_>,
                _field: &'static str,
            ) -> Result<(), $crate::error::Error> {
                slot.insert(Self::default()).decode_fields(el)
            }

            #[inline]
            fn decode_in_place(
                out: &mut Self,
                el: &$crate::ber::Element<'_>,
                _field: &'static str,
            ) -> Result<(), $crate::error::Error> {
                out.decode_fields(el)
            }

            #[inline]
            fn decode_push(
                list: &mut Vec<Self>,
                el: &$crate::ber::Element<'_>,
                _field: &'static str,
            ) -> Result<(), $crate::error::Error> {
                list.push(Self::default());
                let last = list.last_mut().expect("just pushed");
                last.decode_fields(el)
            }

            fn encode_ber(&self, tag: $crate::ber::Tag, w: &mut $crate::ber::Writer) {
                let m = w.begin(tag);
                $( ber_field!(@encode $kind, self.$field, w, $ftag $(, $etag)?); )*
                w.end(m);
            }
        }
    };
}

/// Field-level decoding and encoding for [`ber_sequence!`].
macro_rules! ber_field {
    (@decode Option, $slot:expr, $child:ident, $fasn:literal, $gasn:literal) => {{
        if $slot.is_some() {
            return Err($crate::error::Error::UnexpectedElement {
                offset: $child.offset,
                expected: concat!("at most one ", $fasn, " in ", $gasn),
                found: concat!("a second ", $fasn).to_owned(),
            });
        }
        $crate::ber::BerType::decode_into(&mut $slot, &$child, $fasn)?;
    }};
    (@decode Vec, $slot:expr, $child:ident, $fasn:literal, $gasn:literal, $etag:literal) => {{
        if !$slot.is_empty() {
            return Err($crate::error::Error::UnexpectedElement {
                offset: $child.offset,
                expected: concat!("at most one ", $fasn, " in ", $gasn),
                found: concat!("a second ", $fasn).to_owned(),
            });
        }
        $slot = $crate::ber::decode_list(&$child, $fasn, $etag)?;
    }};
    (@encode Option, $v:expr, $w:ident, $ftag:literal) => {
        if let Some(x) = &$v {
            $crate::ber::BerType::encode_ber(x, $crate::ber::Tag::app($ftag), $w);
        }
    };
    (@encode Vec, $v:expr, $w:ident, $ftag:literal, $etag:literal) => {
        $crate::ber::encode_list(&$v, $crate::ber::Tag::app($ftag), $etag, $w);
    };
}

/// Defines an enum for an application-tagged ASN.1 `CHOICE`. With `IMPLICIT TAGS` a tag on a
/// CHOICE is still explicit (X.680 §31.2.7): the chosen alternative is wrapped in it. Every
/// alternative's type implements `Default`: the alternative is decoded in place, in the slot
/// that holds the CHOICE.
macro_rules! ber_choice {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($asn:literal) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident ($vasn:literal) : $vty:ty = $vtag:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant($vty), )*
            /// An alternative added after the extension marker (or in a foreign class), by
            /// its tag; re-encoded empty under the same tag.
            Unknown($crate::ber::Tag),
        }

        impl $crate::ber::BerType for $name {
            fn decode_ber(
                el: &$crate::ber::Element<'_>,
                field: &'static str,
            ) -> Result<Self, $crate::error::Error> {
                let mut slot = None;
                Self::decode_into(&mut slot, el, field)?;
                // `decode_into` fills the slot whenever it succeeds.
                slot.ok_or_else(|| {
                    $crate::error::Error::field(el.offset, $asn, "empty CHOICE: exactly one alternative is required")
                })
            }

            /// The alternative is decoded straight into the slot: no move of the decoded value
            /// through the layers that would return it.
            fn decode_into(
                slot: &mut Option<Self>,
                el: &$crate::ber::Element<'_>,
                _field: &'static str,
            ) -> Result<(), $crate::error::Error> {
                let mut children = el.children($asn)?;
                let first = match children.next_simple() {
                    Some(c) => Some(c),
                    None if children.is_done() => None,
                    None => children.next()?,
                };
                let Some(child) = first else {
                    return Err($crate::error::Error::field(
                        el.offset,
                        $asn,
                        "empty CHOICE: exactly one alternative is required",
                    ));
                };
                match (child.tag.class, child.tag.number) {
                    $( ($crate::ber::Class::Application, $vtag) => {
                        *slot = Some($name::$variant(<$vty as Default>::default()));
                        if let Some($name::$variant(x)) = slot {
                            $crate::ber::BerType::decode_in_place(x, &child, $vasn)?;
                        }
                    } )*
                    _ => *slot = Some($name::Unknown(child.tag)),
                }
                let extra = match children.next_simple() {
                    Some(c) => Some(c),
                    None if children.is_done() => None,
                    None => children.next()?,
                };
                if let Some(extra) = extra {
                    return Err($crate::error::Error::UnexpectedElement {
                        offset: extra.offset,
                        expected: concat!("a single alternative in ", $asn),
                        found: $crate::ber::describe(&extra),
                    });
                }
                Ok(())
            }

            fn encode_ber(&self, tag: $crate::ber::Tag, w: &mut $crate::ber::Writer) {
                let m = w.begin(tag);
                match self {
                    $( $name::$variant(x) =>
                        $crate::ber::BerType::encode_ber(x, $crate::ber::Tag::app($vtag), w), )*
                    $name::Unknown(t) => w.primitive(*t, &[]),
                }
                w.end(m);
            }
        }
    };
}
