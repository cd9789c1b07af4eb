//! Throughput comparisons run side by side: every side sends the same bytes in turn, the order
//! reversed every other round so drift (a warming emulator, a busy neighbour) falls on all
//! sides alike, and each side's rate is set against the baseline's in the same round.

use std::time::Instant;

use crate::median;

/// Each side's rates (bytes per second), round by round. The last side is the baseline.
#[derive(Debug)]
pub struct Comparison {
    sides: Vec<&'static str>,
    rates: Vec<Vec<f64>>,
}

/// Runs `run(side, round)` for every side in `sides` (the baseline last), once untimed (so
/// connections and caches are warm on every side) and then `rounds` times, each run sending
/// `bytes` bytes. The warm-up round is numbered `rounds`.
pub async fn compare(
    sides: &[&'static str],
    rounds: usize,
    bytes: usize,
    mut run: impl AsyncFnMut(usize, usize),
) -> Comparison {
    for side in 0..sides.len() {
        run(side, rounds).await;
    }
    let mut rates = vec![Vec::with_capacity(rounds); sides.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..sides.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for side in order {
            let t = Instant::now();
            run(side, round).await;
            rates[side].push(bytes as f64 / t.elapsed().as_secs_f64());
        }
    }
    Comparison {
        sides: sides.to_vec(),
        rates,
    }
}

impl Comparison {
    /// The median rate of `side`, in bytes per second.
    pub fn rate(&self, side: usize) -> f64 {
        median(self.rates[side].clone())
    }

    /// `side`'s rate over the baseline's in the same round: the median and the quartiles.
    pub fn ratio(&self, side: usize) -> [f64; 3] {
        let base = self.rates.last().expect("a baseline");
        let mut ratios: Vec<f64> = self.rates[side]
            .iter()
            .zip(base)
            .map(|(s, b)| s / b)
            .collect();
        ratios.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        [at(0.5), at(0.25), at(0.75)]
    }

    /// Prints `title`, then a line per side: its median rate, and for all but the baseline the
    /// median ratio to the baseline with its quartiles.
    pub fn print(&self, title: &str) {
        let rounds = self.rates[0].len();
        println!("{title}, {rounds} rounds (order alternating):");
        let width = self.sides.iter().map(|s| s.len()).max().unwrap_or(0);
        for (i, side) in self.sides.iter().enumerate() {
            let rate = self.rate(i) / 1048576.0;
            if i + 1 == self.sides.len() {
                println!("    {side:<width$}  {rate:>7.1} MiB/s (baseline)");
            } else {
                let [m, lo, hi] = self.ratio(i);
                println!(
                    "    {side:<width$}  {rate:>7.1} MiB/s, ratio {m:.2} (quartiles {lo:.2}-{hi:.2})"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sides_alternate_each_round() {
        let mut order = Vec::new();
        let c = compare(&["a", "b", "base"], 3, 1 << 20, async |side, round| {
            order.push((round, side));
        })
        .await;
        assert_eq!(
            order,
            [
                (3, 0),
                (3, 1),
                (3, 2),
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 2),
                (1, 1),
                (1, 0),
                (2, 0),
                (2, 1),
                (2, 2)
            ]
        );
        assert!(c.rates.iter().all(|r| r.len() == 3));
    }

    #[test]
    fn ratios_pair_each_round_with_the_baselines() {
        // The baseline slows down over the rounds; the side is always half as fast as it.
        let c = Comparison {
            sides: vec!["side", "base"],
            rates: vec![
                vec![50.0, 25.0, 10.0, 5.0, 2.0],
                vec![100.0, 50.0, 20.0, 10.0, 4.0],
            ],
        };
        assert_eq!(c.ratio(0), [0.5, 0.5, 0.5]);
        assert_eq!((c.rate(0), c.rate(1)), (10.0, 20.0));
        let c = Comparison {
            sides: vec!["side", "base"],
            rates: vec![vec![1.0, 2.0, 3.0, 4.0, 5.0], vec![1.0; 5]],
        };
        assert_eq!(c.ratio(0), [3.0, 2.0, 4.0]);
    }
}
