//! The Italian codice fiscale, which raccordo touches only at its edge: a fiscal code comes in with
//! a request, is turned into a pseudonymous `SubjectRef` (see `identity`) and goes no further.
//!
//! A person's code is special-category personal data (DOMAIN.md §5). [`CodiceFiscale`] therefore
//! has no `Display`, no `Serialize` and a redacted `Debug`, and its errors say what is wrong and
//! where without ever repeating the input: the only way the code leaves the type is the
//! deliberately named [`CodiceFiscale::expose`], so it cannot slip into a log, an error detail, a
//! panic or an event by accident.

use std::fmt;
use std::str::FromStr;

const LEN: usize = 16;

/// The letters for January to December, as the Agenzia delle Entrate assigns them.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";

/// Omocodia substitutes: the letter at index `d` stands for the digit `d`.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";

/// The 1-based positions that hold digits, in reading order. When two people would get the same
/// code, the Agenzia replaces these digits with their omocodia letters starting from the right.
const DIGIT_POSITIONS: [usize; 7] = [7, 8, 10, 11, 13, 14, 15];

/// What a character in an odd (1-based) position is worth towards the check character, indexed
/// by its ordinal: A and 0 are 0, B and 1 are 1, and so on. Even positions are worth the ordinal.
const ODD_VALUES: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// A well-formed codice fiscale, in canonical form: 16 uppercase characters, trimmed.
///
/// Omocodic codes (digits replaced by letters) are kept exactly as given: each is the code of a
/// different person, not a spelling of some base code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CodiceFiscale(String);

/// Why a string is not a valid codice fiscale. Deliberately carries positions and counts only,
/// never the characters themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    #[error("codice fiscale must be 16 characters, got {found}")]
    WrongLength { found: usize },
    /// `position` is 1-based, as a person reading the code would count.
    #[error(
        "codice fiscale has an invalid character at position {position}: expected {}",
        expected_at(*position)
    )]
    InvalidCharacter { position: usize },
    #[error(
        "codice fiscale has an invalid month letter at position 9: expected one of A B C D E H L M P R S T"
    )]
    InvalidMonth,
    #[error(
        "codice fiscale has an invalid day at positions 10-11: expected 01-31, or 41-71 for women"
    )]
    InvalidDay,
    #[error("codice fiscale check character (position 16) does not match the first 15 characters")]
    WrongCheckCharacter,
}

fn expected_at(position: usize) -> &'static str {
    match position {
        1..=6 => "a letter (surname and name)",
        9 => "a letter (month of birth)",
        12 => "a letter (start of the place code)",
        16 => "a letter (check character)",
        p if DIGIT_POSITIONS.contains(&p) => "a digit, or its omocodia letter L M N P Q R S T U V",
        _ => "a letter or a digit",
    }
}

impl CodiceFiscale {
    /// The code itself, in canonical form.
    ///
    /// Only for deriving a subject reference with `identity::SubjectKey`: anything else that
    /// needs the code (logging, storing, sending it on) is what this type exists to prevent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A deterministic, valid and realistic-looking code for demos and tests, belonging to nobody
    /// we know of.
    ///
    /// The six name letters are a bijection of the low 24 bits of `seed`, so any two seeds below
    /// 2^24 give different codes. Birth date, sex (women's day + 40) and place vary with the seed;
    /// about one seed in ten gives an omocodic code.
    pub fn synthetic(seed: u64) -> CodiceFiscale {
        // Consonants dominate real surname and name groups; the third letter is often a vowel.
        const LEADING: &[u8; 16] = b"BCDFGHKLMNPRSTVZ";
        const THIRD: &[u8; 16] = b"AEIOUBCDGLMNPRST";
        const PLACES: [&[u8; 4]; 6] = [b"E801", b"C707", b"B162", b"D013", b"D231", b"F205"];

        let letters = permute24(seed as u32 & LOW24);
        let nibble = |i: u32| ((letters >> (4 * i)) & 0xF) as usize;
        let mut draw = SplitMix64(seed);

        let mut code = [0u8; LEN];
        code[0] = LEADING[nibble(0)];
        code[1] = LEADING[nibble(1)];
        code[2] = THIRD[nibble(2)];
        code[3] = LEADING[nibble(3)];
        code[4] = LEADING[nibble(4)];
        code[5] = THIRD[nibble(5)];
        let year = draw.below(100);
        code[6] = ascii_digit(year / 10);
        code[7] = ascii_digit(year % 10);
        code[8] = MONTHS[draw.below(12) as usize];
        // Days up to 28 exist in every month, so every synthetic code is a real birth date.
        let day = 1 + draw.below(28) + if draw.below(2) == 1 { 40 } else { 0 };
        code[9] = ascii_digit(day / 10);
        code[10] = ascii_digit(day % 10);
        code[11..15].copy_from_slice(PLACES[draw.below(PLACES.len() as u64) as usize]);
        if draw.below(10) == 0 {
            // Most omocodic codes resolve a single collision; deeper substitutions are rarer.
            let substituted = match draw.below(10) {
                0..=6 => 1,
                7 | 8 => 2,
                _ => 3,
            };
            for &position in DIGIT_POSITIONS.iter().rev().take(substituted) {
                let digit = code[position - 1] - b'0';
                code[position - 1] = OMOCODIA[usize::from(digit)];
            }
        }
        code[15] = check_character(first15(&code));
        CodiceFiscale(code.iter().map(|&b| char::from(b)).collect())
    }
}

impl fmt::Debug for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodiceFiscale(<redacted>)")
    }
}

impl FromStr for CodiceFiscale {
    type Err = CodiceFiscaleError;

    /// Accepts any case and surrounding whitespace; reports the first problem found, checking
    /// character classes, then the month, then the day, then the check character.
    fn from_str(s: &str) -> Result<Self, CodiceFiscaleError> {
        let trimmed = s.trim();
        let found = trimmed.chars().count();
        if found != LEN {
            return Err(CodiceFiscaleError::WrongLength { found });
        }

        let mut code = [0u8; LEN];
        for (i, c) in trimmed.chars().enumerate() {
            let position = i + 1;
            let byte = u8::try_from(c)
                .ok()
                .filter(u8::is_ascii)
                .map(|b| b.to_ascii_uppercase());
            let fits = byte.is_some_and(|b| {
                if DIGIT_POSITIONS.contains(&position) {
                    b.is_ascii_digit() || OMOCODIA.contains(&b)
                } else {
                    b.is_ascii_uppercase()
                }
            });
            match byte {
                Some(b) if fits => code[i] = b,
                _ => return Err(CodiceFiscaleError::InvalidCharacter { position }),
            }
        }

        if !MONTHS.contains(&code[8]) {
            return Err(CodiceFiscaleError::InvalidMonth);
        }
        // Only the range is checked, not the calendar (a 30 February passes). The Agenzia issues
        // codes for real dates only, so the calendar check belongs to the issuer; repeating it
        // here could only refuse a code that was in fact issued, e.g. after a registry correction.
        let day = digit_value(code[9]) * 10 + digit_value(code[10]);
        if !matches!(day, 1..=31 | 41..=71) {
            return Err(CodiceFiscaleError::InvalidDay);
        }
        if check_character(first15(&code)) != code[15] {
            return Err(CodiceFiscaleError::WrongCheckCharacter);
        }

        // Every byte was checked to be an uppercase ASCII letter or digit.
        Ok(CodiceFiscale(code.iter().map(|&b| char::from(b)).collect()))
    }
}

impl TryFrom<&str> for CodiceFiscale {
    type Error = CodiceFiscaleError;

    fn try_from(s: &str) -> Result<Self, CodiceFiscaleError> {
        s.parse()
    }
}

fn first15(code: &[u8; LEN]) -> &[u8; 15] {
    code.first_chunk().expect("16 bytes hold 15")
}

/// The value of a digit position's character, decoding an omocodia letter to its digit.
/// Takes only what the parser admitted at a digit position.
fn digit_value(b: u8) -> u8 {
    match OMOCODIA.iter().position(|&l| l == b) {
        Some(digit) => digit as u8,
        None => b - b'0',
    }
}

fn ascii_digit(d: u64) -> u8 {
    b'0' + (d % 10) as u8
}

/// The check character of a code's first 15 characters, by the Agenzia delle Entrate's
/// algorithm: odd positions are worth [`ODD_VALUES`], even positions their ordinal, and the sum
/// modulo 26 is the letter. Omocodia letters count as the letters they are, not as digits.
fn check_character(first15: &[u8; 15]) -> u8 {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let ordinal = match b {
                b'0'..=b'9' => b - b'0',
                b'A'..=b'Z' => b - b'A',
                _ => unreachable!("check_character takes uppercase ASCII letters and digits only"),
            };
            // `i` counts from 0, so an even `i` is an odd position.
            u32::from(if i % 2 == 0 {
                ODD_VALUES[usize::from(ordinal)]
            } else {
                ordinal
            })
        })
        .sum();
    b'A' + (sum % 26) as u8
}

const LOW24: u32 = (1 << 24) - 1;

/// A bijection on 24-bit values: each xor, xorshift and multiplication by an odd number modulo
/// 2^24 can be undone, so distinct inputs give distinct outputs while neighbours look unrelated.
/// The first xor keeps seed 0, the one demos reach for first, from coming out as BBABBA.
fn permute24(x: u32) -> u32 {
    let mut x = (x ^ 0x6C_A5E3) & LOW24;
    x ^= x >> 12;
    x = x.wrapping_mul(0x9E_3779) & LOW24;
    x ^= x >> 11;
    x = x.wrapping_mul(0x5B_D1E5) & LOW24;
    x ^= x >> 13;
    x
}

/// Steele, Lea and Flood's splitmix64: enough randomness for demo data without a `rand`
/// dependency, and the same on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn parse(s: &str) -> Result<CodiceFiscale, CodiceFiscaleError> {
        s.parse()
    }

    fn is_omocodic(cf: &CodiceFiscale) -> bool {
        let bytes = cf.expose().as_bytes();
        DIGIT_POSITIONS
            .iter()
            .any(|&p| bytes[p - 1].is_ascii_uppercase())
    }

    /// Whether `text` holds any 4-character run of `input` that has an uppercase letter in it.
    /// In a valid code every such run has one (no digit run is longer than 3); runs of digits and
    /// punctuation alone could match a message's own "01-31" without leaking anything.
    fn leaks(text: &str, input: &str) -> bool {
        let chars: Vec<char> = input.chars().collect();
        chars
            .windows(4)
            .filter(|w| w.iter().any(char::is_ascii_uppercase))
            .any(|w| text.contains(&w.iter().collect::<String>()))
    }

    #[test]
    fn published_and_hand_computed_codes_are_valid() {
        // RSSMRA85T10A562S is the widely published example (Mario Rossi, 10 Dec 1985, A562).
        // Hand sum, odd positions by the odd table, even by ordinal:
        // R8 S18 S12 M12 R8 A0 8:19 5:5 T14 1:1 0:1 A0 5:13 6:6 2:5 = 122; 122 mod 26 = 18 = S.
        // BNCLRA70A41F205E, a woman (day 01 + 40), 1 Jan 1970, F205:
        // B0 N13 C5 L11 R8 A0 7:17 0:0 A1 4:4 1:0 F5 2:5 0:0 5:13 = 82; 82 mod 26 = 4 = E.
        // VRDGPP80H15E801B, 15 Jun 1980, E801:
        // V10 R17 D7 G6 P3 P15 8:19 0:0 H17 1:1 5:13 E4 8:19 0:0 1:0 = 131; 131 mod 26 = 1 = B.
        for code in ["RSSMRA85T10A562S", "BNCLRA70A41F205E", "VRDGPP80H15E801B"] {
            let cf = parse(code).unwrap();
            assert_eq!(cf.expose(), code);
            let bytes: &[u8; 16] = code.as_bytes().try_into().unwrap();
            assert_eq!(check_character(first15(bytes)), bytes[15]);
        }
    }

    #[test]
    fn lowercase_and_surrounding_whitespace_are_accepted_and_canonicalised() {
        let cf = parse("  rssmra85t10a562s\n").unwrap();
        assert_eq!(cf.expose(), "RSSMRA85T10A562S");
        assert_eq!(cf, CodiceFiscale::try_from("\tRssMra85T10a562S ").unwrap());
    }

    #[test]
    fn omocodic_codes_are_accepted_as_given() {
        // Position 15: 2 becomes N (odd value 20 instead of 5): 122 - 5 + 20 = 137, mod 26 = 7 = H.
        // Then position 14: 6 becomes S (even value 18 instead of 6): 137 + 12 = 149, mod 26 = 19 = T.
        for code in ["RSSMRA85T10A56NH", "RSSMRA85T10A5SNT"] {
            assert_eq!(parse(code).unwrap().expose(), code);
        }
        // A day written as omocodia letters is decoded before the range check: M N = 12 is fine,
        // Q M = 41 is a woman's day 1, N R = 25, and P Q = 34 is not a day.
        let with_day = |d10: u8, d11: u8| {
            let mut code = *b"RSSMRA85T10A562S";
            code[9] = d10;
            code[10] = d11;
            code[15] = check_character(first15(&code));
            parse(std::str::from_utf8(&code).unwrap())
        };
        assert!(with_day(b'M', b'N').is_ok());
        assert!(with_day(b'Q', b'M').is_ok());
        assert!(with_day(b'N', b'R').is_ok());
        assert_eq!(with_day(b'P', b'Q'), Err(CodiceFiscaleError::InvalidDay));
    }

    #[test]
    fn wrong_length_is_reported_with_the_count_in_characters() {
        assert_eq!(
            parse("RSSMRA85T10A562"),
            Err(CodiceFiscaleError::WrongLength { found: 15 })
        );
        assert_eq!(parse(""), Err(CodiceFiscaleError::WrongLength { found: 0 }));
        assert_eq!(
            parse("RSSMRA85T10A562SX"),
            Err(CodiceFiscaleError::WrongLength { found: 17 })
        );
        assert_eq!(
            parse("RSSMRA85T10A562").unwrap_err().to_string(),
            "codice fiscale must be 16 characters, got 15"
        );
    }

    #[test]
    fn characters_out_of_place_are_reported_by_position() {
        let at = |position| Err(CodiceFiscaleError::InvalidCharacter { position });
        assert_eq!(parse("RSS1RA85T10A562S"), at(4));
        assert_eq!(parse("RSSMRA8XT10A562S"), at(8));
        assert_eq!(parse("RSSMRA85910A562S"), at(9));
        assert_eq!(parse("RSSMRA85T10A5-2S"), at(14));
        assert_eq!(parse("RSSMRA85T10A5622"), at(16));
        // Multi-byte characters count as one character and are refused, not sliced through.
        assert_eq!(parse("RSSMRA85T10A562È"), at(16));
        assert_eq!(parse("RSSMRA85T10Ä562S"), at(12));
        assert_eq!(
            parse("RSSMRA8XT10A562S").unwrap_err().to_string(),
            "codice fiscale has an invalid character at position 8: \
             expected a digit, or its omocodia letter L M N P Q R S T U V"
        );
    }

    #[test]
    fn a_letter_that_is_no_month_is_reported() {
        for month in [b'F', b'G', b'I', b'Z'] {
            let mut code = *b"RSSMRA85T10A562S";
            code[8] = month;
            code[15] = check_character(first15(&code));
            assert_eq!(
                parse(std::str::from_utf8(&code).unwrap()),
                Err(CodiceFiscaleError::InvalidMonth)
            );
        }
    }

    #[test]
    fn days_outside_1_31_and_41_71_are_reported() {
        for day in [*b"00", *b"32", *b"40", *b"72", *b"99"] {
            let mut code = *b"RSSMRA85T10A562S";
            code[9..11].copy_from_slice(&day);
            code[15] = check_character(first15(&code));
            assert_eq!(
                parse(std::str::from_utf8(&code).unwrap()),
                Err(CodiceFiscaleError::InvalidDay)
            );
        }
        for day in ["01", "31", "41", "71"] {
            let mut code = *b"RSSMRA85T10A562S";
            code[9..11].copy_from_slice(day.as_bytes());
            code[15] = check_character(first15(&code));
            assert!(parse(std::str::from_utf8(&code).unwrap()).is_ok());
        }
    }

    #[test]
    fn a_wrong_check_character_is_rejected() {
        assert_eq!(
            parse("RSSMRA85T10A562T"),
            Err(CodiceFiscaleError::WrongCheckCharacter)
        );
        // Omocodia changes the check character: the base code's letter no longer fits.
        assert_eq!(
            parse("RSSMRA85T10A56NS"),
            Err(CodiceFiscaleError::WrongCheckCharacter)
        );
    }

    #[test]
    fn debug_is_redacted() {
        let cf = parse("RSSMRA85T10A562S").unwrap();
        assert_eq!(format!("{cf:?}"), "CodiceFiscale(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(&cf)),
            "Some(CodiceFiscale(<redacted>))"
        );
    }

    #[test]
    fn synthetic_codes_differ_for_the_first_100_000_seeds() {
        let codes: HashSet<String> = (0..100_000)
            .map(|seed| CodiceFiscale::synthetic(seed).expose().to_owned())
            .collect();
        assert_eq!(codes.len(), 100_000);
    }

    #[test]
    fn synthetic_codes_vary_like_real_ones() {
        let codes: Vec<CodiceFiscale> = (0..10_000).map(CodiceFiscale::synthetic).collect();
        let omocodic = codes.iter().filter(|cf| is_omocodic(cf)).count();
        assert!(
            (800..=1200).contains(&omocodic),
            "{omocodic} omocodic in 10,000"
        );
        let women = codes
            .iter()
            .filter(|cf| cf.expose().as_bytes()[9] >= b'4')
            .count();
        assert!((4500..=5500).contains(&women), "{women} women in 10,000");
        let months: HashSet<u8> = codes.iter().map(|cf| cf.expose().as_bytes()[8]).collect();
        assert_eq!(months.len(), 12);
        let places: HashSet<&str> = codes.iter().map(|cf| &cf.expose()[11..15]).collect();
        assert!(places.len() >= 5);
    }

    #[test]
    fn the_letter_permutation_is_a_bijection() {
        let mut seen = vec![false; 1 << 24];
        for x in 0..=LOW24 {
            let y = permute24(x) as usize;
            assert!(!seen[y], "permute24 maps two inputs to {y}");
            seen[y] = true;
        }
    }

    /// A code from a seed, mangled at one position into some other printable character.
    fn mangled() -> impl Strategy<Value = (String, String)> {
        (any::<u64>(), 0..LEN, proptest::char::range('!', '~')).prop_map(|(seed, i, c)| {
            let code = CodiceFiscale::synthetic(seed).expose().to_owned();
            let mut bad: Vec<char> = code.chars().collect();
            bad[i] = c;
            (code, bad.into_iter().collect())
        })
    }

    proptest! {
        #[test]
        fn every_synthetic_code_parses_back_to_itself(seed in any::<u64>()) {
            let cf = CodiceFiscale::synthetic(seed);
            prop_assert_eq!(parse(cf.expose()), Ok(cf.clone()));
            prop_assert_eq!(parse(&cf.expose().to_lowercase()), Ok(cf));
        }

        #[test]
        fn any_other_check_letter_is_rejected(seed in any::<u64>()) {
            let cf = CodiceFiscale::synthetic(seed);
            let good = cf.expose().as_bytes()[15];
            for letter in (b'A'..=b'Z').filter(|&l| l != good) {
                let bad = format!("{}{}", &cf.expose()[..15], char::from(letter));
                prop_assert_eq!(parse(&bad), Err(CodiceFiscaleError::WrongCheckCharacter));
            }
        }

        #[test]
        fn neither_debug_nor_errors_reveal_the_code((code, bad) in mangled()) {
            let cf = parse(&code).unwrap();
            let runs: Vec<char> = code.chars().collect();
            prop_assert!(runs.windows(4).all(|w| w.iter().any(char::is_ascii_uppercase)));
            let shown = format!("{cf:?} {cf:#?}");
            prop_assert!(!leaks(&shown, &code));
            if let Err(e) = parse(&bad) {
                let text = format!("{e} {e:?}");
                prop_assert!(!leaks(&text, &bad), "{} leaks the input", text);
                prop_assert!(!leaks(&text, &code));
            }
            let truncated = &code[..15];
            let e = parse(truncated).unwrap_err();
            let text = format!("{e} {e:?}");
            prop_assert!(!leaks(&text, truncated));
        }
    }
}
