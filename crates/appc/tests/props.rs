//! Properties over generated inputs.

use appc::{AcIdentifier, AcName, ImageId, ImageRef, Quantity, Uuid};
use proptest::prelude::*;

const SUFFIXES: &[(&str, i128)] = &[
    ("", 1),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("e3", 1_000),
    ("E2", 100),
];

proptest! {
    #[test]
    fn identifier_sanitize_is_valid_or_error(s in any::<String>()) {
        match AcIdentifier::sanitize(&s) {
            Ok(id) => {
                prop_assert_eq!(id.as_str().parse::<AcIdentifier>(), Ok(id.clone()));
                prop_assert_eq!(AcIdentifier::sanitize(id.as_str()), Ok(id.clone()));
            }
            Err(e) => prop_assert!(!e.message().is_empty()),
        }
    }

    #[test]
    fn name_sanitize_is_valid_or_error(s in "[ -~é]{0,20}") {
        if let Ok(name) = AcName::sanitize(&s) {
            prop_assert_eq!(name.as_str().parse::<AcName>(), Ok(name.clone()));
        }
    }

    #[test]
    fn quantity_whole_numbers_are_exact(n in 0i64..1_000_000, i in 0..SUFFIXES.len()) {
        let (suffix, mult) = SUFFIXES[i];
        let q: Quantity = format!("{n}{suffix}").parse().unwrap();
        prop_assert_eq!(q.value().map(i128::from), Some(i128::from(n) * mult));
        prop_assert_eq!(q.nanos(), i128::from(n) * mult * 1_000_000_000);
    }

    #[test]
    fn quantity_milli_rounds_up(n in -1_000_000i64..1_000_000) {
        let q: Quantity = format!("{n}m").parse().unwrap();
        prop_assert_eq!(q.milli_value(), Some(n));
        let ceil_away = if n % 1000 == 0 { n / 1000 } else { n / 1000 + n.signum() };
        prop_assert_eq!(q.value(), Some(ceil_away));
    }

    #[test]
    fn quantity_display_parse_round_trip(
        int in "[0-9]{1,6}",
        frac in proptest::option::of("[0-9]{0,9}"),
        i in 0..SUFFIXES.len(),
        neg in any::<bool>(),
    ) {
        let text = format!(
            "{}{int}{}{}",
            if neg { "-" } else { "" },
            frac.map(|f| format!(".{f}")).unwrap_or_default(),
            SUFFIXES[i].0
        );
        let q: Quantity = text.parse().unwrap();
        let again: Quantity = q.to_string().parse().unwrap();
        prop_assert_eq!(&again, &q);
        prop_assert_eq!(q.to_string(), text);
    }

    #[test]
    fn quantity_from_milli_round_trip(m in any::<i64>()) {
        let q = Quantity::from_milli(m);
        prop_assert_eq!(q.milli_value(), Some(m));
        let again: Quantity = q.to_string().parse().unwrap();
        prop_assert_eq!(again.milli_value(), Some(m));
    }

    #[test]
    fn image_id_from_digest_is_full(bytes in proptest::collection::vec(any::<u8>(), 64)) {
        let digest: [u8; 64] = bytes.try_into().unwrap();
        let id = ImageId::from_digest(&digest);
        prop_assert!(id.is_full());
        prop_assert_eq!(id.short().len(), 39);
        prop_assert_eq!(id.as_str().parse::<ImageId>().unwrap(), id);
    }

    #[test]
    fn uuid_display_parse_round_trip(bytes in any::<[u8; 16]>()) {
        let u = Uuid::from_bytes(bytes);
        let s = u.to_string();
        prop_assert_eq!(s.len(), 36);
        prop_assert_eq!(s.parse::<Uuid>().unwrap(), u);
        prop_assert_eq!(s.to_uppercase().replace('-', "").parse::<Uuid>().unwrap(), u);
    }

    #[test]
    fn image_ref_display_parse_round_trip(
        name in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}",
        version in proptest::option::of("[0-9a-z.+-]{0,8}"),
        labels in proptest::collection::btree_map("[a-z]{1,6}", "[a-z0-9&+=-]{0,6}", 0..4),
    ) {
        let mut text = name.clone();
        if let Some(v) = &version {
            text.push(':');
            text.push_str(v);
        }
        for (k, v) in labels.iter().filter(|(k, _)| !["version", "name"].contains(&k.as_str())) {
            text.push_str(&format!(",{k}={v}"));
        }
        let r: ImageRef = text.parse().unwrap();
        prop_assert_eq!(r.version(), version.as_deref());
        prop_assert_eq!(r.to_string(), text.clone());
        prop_assert_eq!(r.to_string().parse::<ImageRef>().unwrap(), r);
    }
}
