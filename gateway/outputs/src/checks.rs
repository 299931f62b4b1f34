//! The checks that tell a real identifier from a number that only looks like one: Luhn for
//! payment cards (ISO/IEC 7812), ISO 13616 mod-97 for IBANs, and the SSA's rules for US social
//! security numbers. Hand-written: each is a few lines of arithmetic, smaller than a dependency.

/// The digits of `s`, skipping the separators a match may hold (space, dash).
fn digits(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
}

/// A payment card number: 13 to 19 digits whose Luhn sum is a multiple of ten, and not one
/// digit repeated (`0000 0000 0000 0000` passes Luhn and is no card).
pub fn card(s: &str) -> bool {
    let d: Vec<u32> = digits(s).collect();
    if !(13..=19).contains(&d.len()) || d.iter().all(|x| *x == d[0]) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| match i % 2 {
            0 => x,
            _ if x * 2 > 9 => x * 2 - 9,
            _ => x * 2,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An IBAN: country letters, two check digits, then the account; moving the first four
/// characters to the end and reading letters as 10..35 gives a number equal to 1 mod 97.
pub fn iban(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len())
        || !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A US social security number `AAA-GG-SSSS` as the SSA issues them: no area 000, 666 or
/// 900-999, no group 00, no serial 0000.
pub fn ssn(s: &str) -> bool {
    let d: Vec<u32> = digits(s).collect();
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_pass_luhn_and_near_misses_do_not() {
        for good in [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "340000000000009",
            "6011000000000004",
        ] {
            assert!(card(good), "{good}");
        }
        for bad in [
            "4111 1111 1111 1112",
            "0000 0000 0000 0000",
            "1234",
            "41111111111111111111",
        ] {
            assert!(!card(bad), "{bad}");
        }
    }

    #[test]
    fn ibans_pass_mod_97_and_a_changed_digit_fails() {
        for good in [
            "DE89370400440532013000",
            "GB82 WEST 1234 5698 7654 32",
            "FR1420041010050500013M02606",
        ] {
            assert!(iban(good), "{good}");
        }
        for bad in [
            "DE89370400440532013001",
            "GB82 WEST 1234 5698 7654 33",
            "XX00",
            "de89370400440532013000",
        ] {
            assert!(!iban(bad), "{bad}");
        }
    }

    #[test]
    fn ssns_follow_the_issuing_rules() {
        assert!(ssn("123-45-6789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!ssn(bad), "{bad}");
        }
    }
}
