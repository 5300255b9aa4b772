//! Separating touching objects. Generated objects sometimes touch or overlap a little (two
//! stars meeting at their tips, a triangle resting on another); as one pixel group they would
//! be counted once and read as no shape. Eroding the group leaves the objects' bodies as
//! separate cores while the thin joins between them vanish; each pixel then goes to the core
//! it reaches first through the group. A single object keeps one core, however thin its arms.

use std::collections::VecDeque;

/// Erosions by a 3x3 square: joins up to about twice this wide are cut.
const EROSIONS: usize = 2;
/// Smaller cores are noise, not bodies.
const MIN_CORE: usize = 4;

/// A pixel group's box: its top-left corner and its width and height (all zero for no pixels).
pub(super) fn bounds(pixels: &[(usize, usize)]) -> ((usize, usize), (usize, usize)) {
    let x0 = pixels.iter().map(|p| p.0).min().unwrap_or(0);
    let y0 = pixels.iter().map(|p| p.1).min().unwrap_or(0);
    let w = pixels.iter().map(|p| p.0 - x0 + 1).max().unwrap_or(0);
    let h = pixels.iter().map(|p| p.1 - y0 + 1).max().unwrap_or(0);
    ((x0, y0), (w, h))
}

/// The objects of one 8-connected pixel group: the group itself unless it has several cores.
pub fn separate(pixels: &[(usize, usize)]) -> Vec<Vec<(usize, usize)>> {
    let ((x0, y0), (w, h)) = bounds(pixels);
    let at = |x: usize, y: usize| (y - y0) * w + (x - x0);
    let mut inside = vec![false; w * h];
    for &(x, y) in pixels {
        inside[at(x, y)] = true;
    }
    let neighbours = |i: usize| {
        let (x, y) = ((i % w) as isize, (i / w) as isize);
        (-1..=1)
            .flat_map(move |dy| (-1..=1).map(move |dx| (x + dx, y + dy)))
            .filter(|&(nx, ny)| nx >= 0 && ny >= 0 && nx < w as isize && ny < h as isize)
            .map(move |(nx, ny)| ny as usize * w + nx as usize)
    };
    let mut core = inside.clone();
    for _ in 0..EROSIONS {
        let before = core.clone();
        for (i, c) in core.iter_mut().enumerate() {
            // a pixel on the box's edge has neighbours outside the group
            let (x, y) = (i % w, i / w);
            *c = before[i] && x > 0 && y > 0 && x + 1 < w && y + 1 < h && neighbours(i).all(|j| before[j]);
        }
    }
    // label the cores, then grow them through the group, nearest first
    let mut label = vec![usize::MAX; w * h];
    let mut cores = 0;
    let mut queue = VecDeque::new();
    for start in 0..w * h {
        if !core[start] || label[start] != usize::MAX {
            continue;
        }
        let mut members = vec![start];
        label[start] = cores;
        let mut k = 0;
        while k < members.len() {
            for j in neighbours(members[k]) {
                if core[j] && label[j] == usize::MAX {
                    label[j] = cores;
                    members.push(j);
                }
            }
            k += 1;
        }
        if members.len() < MIN_CORE {
            members.iter().for_each(|&i| label[i] = usize::MAX);
            continue;
        }
        queue.extend(members);
        cores += 1;
    }
    if cores < 2 {
        return vec![pixels.to_vec()];
    }
    while let Some(i) = queue.pop_front() {
        for j in neighbours(i) {
            if inside[j] && label[j] == usize::MAX {
                label[j] = label[i];
                queue.push_back(j);
            }
        }
    }
    let mut parts = vec![Vec::new(); cores];
    for &(x, y) in pixels {
        parts[label[at(x, y)]].push((x, y));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(cx: f32, cy: f32, r: f32) -> Vec<(usize, usize)> {
        (0..64)
            .flat_map(|y| (0..64).map(move |x| (x, y)))
            .filter(|&(x, y)| (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= r * r)
            .collect()
    }

    #[test]
    fn two_touching_discs_come_apart_and_one_stays_whole() {
        let mut two = disc(20.0, 20.0, 7.0);
        let second: Vec<_> = disc(34.0, 20.0, 7.0).into_iter().filter(|p| !two.contains(p)).collect();
        two.extend(second);
        let parts = separate(&two);
        assert_eq!(parts.len(), 2, "two discs meeting at a point");
        assert!(
            parts.iter().all(|p| (130..=170).contains(&p.len())),
            "{:?}",
            parts.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert_eq!(separate(&disc(30.0, 30.0, 8.0)).len(), 1);
    }
}
