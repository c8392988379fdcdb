//! Cue words: what the words just before a number say it is.
//!
//! A bare digit run (`4155550134`) could be any number; after `call`, `Telefon` or `電話` it is
//! a phone number, and after `order`, `invoice` or `ISBN` it is not. [`cue_before`] looks at
//! the words of the few bytes before a candidate, nearest first, and returns the first that is
//! a cue ([`Cue`]); [`code_before`] says whether a Luhn-valid digit run follows the name of a
//! code (an EAN passes Luhn one time in ten). The cost is bounded: a 40-byte window, a few
//! comparisons per word (the cues are filed by first byte).

/// What the words just before a number say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cue {
    /// A word about phones (`call`, `phone`, `Telefon`, `téléphone`, `電話`, …).
    Phone,
    /// A word about another kind of number (`order`, `invoice`, `tracking`, `ISBN`, …).
    Other,
    /// Neither.
    None,
}

/// How many bytes before a number are searched for a cue.
const CUE_WINDOW: usize = 40;

/// Phone words, lower case, matched at the start of a word (`tel` in `Tel.`, `telefono`,
/// `teléfono`); non-ASCII ones anywhere in a word (`電話番号は`). Several languages: the
/// corpus is multi-locale.
const PHONE_CUES: &[&str] = &[
    "phone",
    "tel",
    "call",
    "ring",
    "mobil",
    "móvil",
    "cell",
    "sms",
    "text",
    "whatsapp",
    "fax",
    "dial",
    "reach",
    "contact",
    "contat",
    "msisdn",
    "handy",
    "anruf",
    "rufen",
    "rückruf",
    "erreich",
    "joindre",
    "appel",
    "rappel",
    "portable",
    "llam",
    "chiam",
    "ligar",
    "fone",
    "celular",
    "bereik",
    "dzwo",
    "téléphone",
    "電話",
    "連絡",
    "携帯",
];

/// Words naming another kind of number, lower case, matched at the start of a word; those of up
/// to four bytes (`id`, `po`, `ref`, `port`, not `portable`) as whole words.
const OTHER_CUES: &[&str] = &[
    "order",
    "invoice",
    "ticket",
    "tracking",
    "account",
    "acct",
    "serial",
    "isbn",
    "ean",
    "barcode",
    "gtin",
    "upc",
    "timestamp",
    "epoch",
    "sku",
    "batch",
    "ref",
    "reference",
    "referenz",
    "référence",
    "referencia",
    "riferimento",
    "id",
    "po",
    "case",
    "build",
    "version",
    "port",
    "pin",
    "otp",
    "bestell",
    "commande",
    "pedido",
    "ordine",
];

/// Words naming a code printed as a bare digit run that may pass Luhn (an EAN-13 does one
/// time in ten).
const CODE_CUES: &[&str] = &[
    "isbn",
    "ean",
    "barcode",
    "gtin",
    "upc",
    "tracking",
    "timestamp",
    "epoch",
];

/// Letters of a word: ASCII letters and any non-ASCII byte.
fn is_letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || c >= 0x80
}

/// Cues by the lower-case first byte of a word: (cue, is a phone word). Built once.
fn cues_by_first_byte() -> &'static [Vec<(&'static str, bool)>] {
    static TABLE: std::sync::OnceLock<Vec<Vec<(&'static str, bool)>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![Vec::new(); 256];
        let all = OTHER_CUES
            .iter()
            .map(|c| (*c, false))
            .chain(PHONE_CUES.iter().map(|c| (*c, true)));
        for (cue, phone) in all {
            if let Some(&first) = cue.as_bytes().first() {
                // A non-ASCII cue may sit anywhere in a word: it is tried on every word that
                // has a non-ASCII byte, filed under 0x80.
                let slot = if first >= 0x80 {
                    0x80
                } else {
                    usize::from(first)
                };
                if let Some(v) = table.get_mut(slot) {
                    v.push((cue, phone));
                }
            }
        }
        table
    })
}

/// What `word` says, if it is a cue: other kinds of number first.
fn word_cue(word: &[u8]) -> Option<Cue> {
    let table = cues_by_first_byte();
    let first = usize::from(word.first()?.to_ascii_lowercase());
    let ascii = table.get(first).map(Vec::as_slice).unwrap_or_default();
    let wide: &[(&str, bool)] = if word.iter().any(|&c| c >= 0x80) {
        table.get(0x80).map(Vec::as_slice).unwrap_or_default()
    } else {
        &[]
    };
    let candidates = || ascii.iter().chain(wide);
    if candidates().any(|(c, phone)| !phone && is_cue(word, c, true)) {
        return Some(Cue::Other);
    }
    candidates()
        .any(|(c, phone)| *phone && is_cue(word, c, false))
        .then_some(Cue::Phone)
}

/// True when `word` is the cue `cue`: a prefix of the word, the whole word for short ones
/// when `whole_short`, anywhere in it for a non-ASCII cue.
fn is_cue(word: &[u8], cue: &str, whole_short: bool) -> bool {
    let cue = cue.as_bytes();
    if cue.first().is_some_and(|&c| c >= 0x80) {
        return word.windows(cue.len()).any(|w| w == cue);
    }
    if whole_short && cue.len() <= 4 {
        return word.eq_ignore_ascii_case(cue);
    }
    word.get(..cue.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(cue))
}

/// The words of the [`CUE_WINDOW`] bytes before `start`, nearest first (a word cut by the
/// window's start is left out).
fn words_before(b: &[u8], start: usize) -> impl Iterator<Item = &[u8]> {
    let from = start.saturating_sub(CUE_WINDOW);
    let window = b.get(from..start).unwrap_or_default();
    let cut = from > 0 && b.get(from - 1).copied().is_some_and(is_letter);
    let mut end = window.len();
    std::iter::from_fn(move || {
        while end > 0 && !window.get(end - 1).copied().is_some_and(is_letter) {
            end -= 1;
        }
        let mut s = end;
        while s > 0 && window.get(s - 1).copied().is_some_and(is_letter) {
            s -= 1;
        }
        if s == end || (s == 0 && cut) {
            return None;
        }
        let word = window.get(s..end);
        end = s;
        word
    })
}

/// The nearest cue before `start`, within [`CUE_WINDOW`] bytes: the first word, going back,
/// that is a phone word or names another kind of number.
pub(super) fn cue_before(b: &[u8], start: usize) -> Cue {
    let mut words = words_before(b, start).peekable();
    while let Some(w) = words.next() {
        // `caller ID` is about a phone, though `ID` alone is not.
        if w.eq_ignore_ascii_case(b"id") && words.peek().is_some_and(|p| is_cue(p, "call", false)) {
            return Cue::Phone;
        }
        if let Some(cue) = word_cue(w) {
            return cue;
        }
    }
    Cue::None
}

/// True when one of [`CODE_CUES`] is among the words of the [`CUE_WINDOW`] bytes before
/// `start`.
pub(super) fn code_before(b: &[u8], start: usize) -> bool {
    words_before(b, start).any(|w| CODE_CUES.iter().any(|c| is_cue(w, c, true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Words that are no cue in any language of the lists.
    const NEUTRAL: &[&str] = &[
        "my", "is", "the", "number", "please", "at", "on", "es", "le", "de", "ist", "mi", "meu",
        "です", "vous", "al",
    ];

    #[test]
    fn nearest_cue_wins_golden() {
        let cue = |t: &str| cue_before(t.as_bytes(), t.len());
        assert_eq!(cue("My phone number is "), Cue::Phone);
        assert_eq!(cue("Call about order "), Cue::Other);
        assert_eq!(cue("Order number for the call "), Cue::Phone);
        assert_eq!(cue("The caller ID showed "), Cue::Phone);
        assert_eq!(cue("Internal id "), Cue::Other);
        assert_eq!(cue("Meine Telefonnummer ist "), Cue::Phone);
        assert_eq!(cue("電話番号は "), Cue::Phone);
        // `port` is whole-word only: `portable` is a French mobile phone.
        assert_eq!(cue("mon portable : "), Cue::Phone);
        assert_eq!(cue("use port "), Cue::Other);
        assert_eq!(cue("hotel booking "), Cue::None);
        assert_eq!(cue("an idea: "), Cue::None);
        // Out of the window, or cut by its start.
        assert_eq!(
            cue("phone, and then a long sentence with nothing else in it "),
            Cue::None
        );
        assert!(code_before(b"Barcode EAN ", 12));
        assert!(!code_before(b"card ", 5));
    }

    proptest! {
        /// A cue word followed by neutral words is the answer while it is wholly inside the
        /// window, and nothing is once it is not.
        #[test]
        fn a_cue_before_neutral_words_is_found_within_the_window(
            phone in any::<bool>(),
            which in 0usize..64,
            neutral in proptest::collection::vec(0..NEUTRAL.len(), 0..8),
        ) {
            let (list, kind) = if phone { (PHONE_CUES, Cue::Phone) } else { (OTHER_CUES, Cue::Other) };
            let word = list[which % list.len()];
            let mut text = format!("{word} ");
            for i in neutral {
                text.push_str(NEUTRAL[i]);
                text.push(' ');
            }
            let expected = if text.len() <= CUE_WINDOW { kind } else { Cue::None };
            prop_assert_eq!(cue_before(text.as_bytes(), text.len()), expected, "{:?}", text);
        }
    }
}
