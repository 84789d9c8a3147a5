//! Text drawn in the room with the stroke font of gizmos: ASCII only, so the common clinical
//! symbols are spelled out, and long lines are clipped.

/// At most `max` characters, with "..." when cut.
pub fn clip(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let mut cut: String = line.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

/// Stroke-font gizmo text draws ASCII only: the common clinical symbols are spelled out, the
/// rest become `?`.
pub fn ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' '..='~' => out.push(c),
            'µ' | 'μ' => out.push('u'),
            '°' => out.push_str("deg"),
            '–' | '—' | '−' => out.push('-'),
            '’' | '‘' => out.push('\''),
            '“' | '”' => out.push('"'),
            '≥' => out.push_str(">="),
            '≤' => out.push_str("<="),
            '·' | '•' => out.push('*'),
            '\t' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}
