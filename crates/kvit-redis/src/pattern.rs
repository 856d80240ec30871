//! `SCAN MATCH` patterns for a literal key prefix.

/// The glob that matches exactly the keys starting with `prefix`: the prefix
/// with Redis's glob metacharacters escaped, then `*`.
pub(crate) fn prefix_glob(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        // Redis's matcher (stringmatchlen) treats these specially; '^' and '-'
        // mean something only inside brackets, which cannot open once '[' is
        // escaped. Multi-byte UTF-8 never contains these ASCII bytes.
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('*');
    pattern
}

#[cfg(test)]
mod tests {
    use super::prefix_glob;

    #[test]
    fn metacharacters_are_escaped() {
        assert_eq!(prefix_glob(""), "*");
        assert_eq!(prefix_glob("app1:"), "app1:*");
        assert_eq!(prefix_glob("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f*");
        assert_eq!(prefix_glob("^-!漢"), "^-!漢*");
    }
}
