//! Small output helpers.

/// Bytes in binary units, e.g. `12.3 MiB`.
pub fn size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Unix seconds as RFC 3339 (UTC).
pub fn time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Left-aligned columns separated by three spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                line.push_str(&format!("{c:<w$}   ", w = widths[i]));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How a listing is printed: `--json`, `-q` (IDs only), `--no-legend`, `--format FIELD,...`.
pub struct View {
    pub json: bool,
    pub quiet: bool,
    pub legend: bool,
    pub format: Option<String>,
}

impl View {
    pub fn new(json: bool, quiet: bool, no_legend: bool, format: Option<String>) -> View {
        View {
            json,
            quiet,
            legend: !no_legend && !quiet,
            format,
        }
    }

    /// The columns to print: `id` alone with `-q`, else those of `--format` or `default`.
    pub fn columns(
        &self,
        fields: &[&str],
        default: &[&str],
        id: &str,
    ) -> anyhow::Result<Vec<usize>> {
        if self.quiet {
            return pick(fields, &[id], None);
        }
        pick(fields, default, self.format.as_deref())
    }
}

/// The columns `--format a,b,c` picks from `fields` (every field a listing has), or `default`
/// without `--format`; an unknown field is an error naming the valid ones.
pub fn pick(fields: &[&str], default: &[&str], format: Option<&str>) -> anyhow::Result<Vec<usize>> {
    let names: Vec<&str> = match format {
        Some(f) => f.split(',').map(str::trim).collect(),
        None => default.to_vec(),
    };
    names
        .iter()
        .map(|n| {
            fields
                .iter()
                .position(|f| f.eq_ignore_ascii_case(n))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--format: unknown field {n:?}; the fields are {}",
                        fields.join(",")
                    )
                })
        })
        .collect()
}

/// The `cols` of `rows` (each row holds every field) as a [`table`], under a header of the
/// fields' names in capitals unless `legend` is false.
pub fn columns(fields: &[&str], cols: &[usize], rows: Vec<Vec<String>>, legend: bool) -> String {
    let mut t = Vec::with_capacity(rows.len() + 1);
    if legend {
        t.push(cols.iter().map(|&i| fields[i].to_uppercase()).collect());
    }
    for mut r in rows {
        t.push(cols.iter().map(|&i| std::mem::take(&mut r[i])).collect());
    }
    table(&t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pick_and_columns() {
        let f = ["uuid", "name", "state"];
        assert_eq!(super::pick(&f, &f, Some("state,UUID")).unwrap(), [2, 0]);
        assert_eq!(super::pick(&f, &f[..2], None).unwrap(), [0, 1]);
        for bad in ["nope", "uuid,", ""] {
            let e = super::pick(&f, &f, Some(bad)).unwrap_err().to_string();
            assert!(e.contains("the fields are uuid,name,state"), "{e}");
        }
        let rows = vec![vec!["u1".into(), "n1".into(), "s1".into()]];
        let cols = [2, 0];
        assert_eq!(
            super::columns(&f, &cols, rows.clone(), true),
            "STATE   UUID\ns1      u1\n"
        );
        assert_eq!(super::columns(&f, &cols, rows, false), "s1   u1\n");
    }

    #[test]
    fn sizes() {
        assert_eq!(super::size(10), "10 B");
        assert_eq!(super::size(1536), "1.5 KiB");
        assert_eq!(super::size(100 << 20), "100.0 MiB");
    }
}
