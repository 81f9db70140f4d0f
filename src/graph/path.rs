//! Path encoding: every value put into a Graph URL is percent-encoded as exactly one path
//! segment, so a guest UPN's `#EXT#` stays in the path and a job value such as
//! `a/../../groups/x` can never reach another endpoint (graph-contract.md, "Service roots").

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are: RFC 3986 unreserved, plus `@` and `'` which Graph accepts in
/// UPNs. `.` is encoded when the whole value is `.` or `..` (see [`segment`]).
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@')
    .remove(b'\'');

/// `value` percent-encoded as one path segment.
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_segment(&mut out, value);
    out
}

/// [`segment`] of `value`, appended to `out`.
pub fn push_segment(out: &mut String, value: &str) {
    match value {
        "." => out.push_str("%2E"),
        ".." => out.push_str("%2E%2E"),
        _ => out.extend(utf8_percent_encode(value, KEEP)),
    }
}

/// Room left after `/users/{user}` for the rest of a path (`/authentication/methods`, ...), so
/// the caller appends without growing the string again.
const PATH_ROOM: usize = 48;

/// `/users/{user}` with the user encoded. A UPN that begins with `$` is addressed by key
/// instead, `/users('{user}')` with any `'` doubled: Graph reads a segment that begins with `$`
/// as a system segment ("Get user", learn.microsoft.com/graph/api/user-get: "if the
/// userPrincipalName begins with a dollar ($) character, remove the slash (/) after /users and
/// enclose the userPrincipalName in parentheses and single quotes"). The key keeps its `$` and
/// is otherwise encoded as a segment, so it cannot leave the parentheses either.
pub fn user(user: &str) -> String {
    if user.starts_with('$') {
        let quoted = user.replace('\'', "''");
        let encoded = segment(&quoted).replace("%24", "$");
        format!("/users('{encoded}')")
    } else {
        let mut out = String::with_capacity("/users/".len() + user.len() + PATH_ROOM);
        out.push_str("/users/");
        push_segment(&mut out, user);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_upns_keep_their_hashes_inside_the_segment() {
        assert_eq!(
            user("jo_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
            "/users/jo_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
        );
    }

    #[test]
    fn a_upn_that_begins_with_a_dollar_is_addressed_by_key_with_quotes_doubled() {
        assert_eq!(user("$adele@contoso.com"), "/users('$adele@contoso.com')");
        assert_eq!(
            user("$o'neil/x@contoso.com"),
            "/users('$o''neil%2Fx@contoso.com')"
        );
        assert_eq!(user("a$b@contoso.com"), "/users/a%24b@contoso.com");
    }

    #[test]
    fn traversal_and_query_characters_cannot_escape_the_segment() {
        assert_eq!(segment("a/../../groups/x"), "a%2F..%2F..%2Fgroups%2Fx");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("x?$select=id"), "x%3F%24select%3Did");
        assert_eq!(segment("o'neil@contoso.com"), "o'neil@contoso.com");
    }
}
