//! A fixed-size bitmap with a wrap-around search for the next clear bit.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    len: u32,
    ones: u32,
}

impl Bitmap {
    pub(crate) fn new(len: u32) -> Bitmap {
        Bitmap {
            words: vec![0; (len as usize).div_ceil(64)],
            len,
            ones: 0,
        }
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    pub(crate) fn ones(&self) -> u32 {
        self.ones
    }

    pub(crate) fn get(&self, i: u32) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// Sets bit `i`; returns false if it was already set.
    pub(crate) fn set(&mut self, i: u32) -> bool {
        if self.get(i) || i >= self.len {
            return false;
        }
        self.words[(i / 64) as usize] |= 1 << (i % 64);
        self.ones += 1;
        true
    }

    /// Clears bit `i`; returns false if it was already clear.
    pub(crate) fn clear(&mut self, i: u32) -> bool {
        if !self.get(i) {
            return false;
        }
        self.words[(i / 64) as usize] &= !(1 << (i % 64));
        self.ones -= 1;
        true
    }

    /// The first clear bit at or after `from`, wrapping around once.
    pub(crate) fn next_clear(&self, from: u32) -> Option<u32> {
        if self.ones >= self.len {
            return None;
        }
        let from = if from >= self.len { 0 } else { from };
        let start_word = (from / 64) as usize;
        let n = self.words.len();
        // n + 1 visits: the start word is seen twice, first masked to the
        // bits at or after `from`, last unmasked for the bits before it.
        for step in 0..=n {
            let w = (start_word + step) % n;
            let mut free = !self.words[w];
            if step == 0 {
                free &= u64::MAX << (from % 64);
            }
            while free != 0 {
                let bit = w as u32 * 64 + free.trailing_zeros();
                if bit < self.len {
                    return Some(bit);
                }
                free &= free - 1;
            }
        }
        None
    }

    /// Indices of set bits, ascending.
    pub(crate) fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some(w as u32 * 64 + bit)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_clear_wraps_and_respects_len() {
        let mut b = Bitmap::new(70);
        for i in 0..70 {
            assert!(b.set(i));
        }
        assert_eq!(b.next_clear(0), None);
        assert!(b.clear(3));
        assert_eq!(b.next_clear(10), Some(3));
        assert!(b.clear(65));
        assert_eq!(b.next_clear(10), Some(65));
        assert_eq!(b.next_clear(66), Some(3));
        assert_eq!(b.iter_ones().count(), 68);
        assert!(!b.set(70), "out of range bits are refused");
    }
}
