//! Data checks that decide whether an evaluation can be trusted: repeated tracks and how
//! their copies disagree, near-duplicates (the same title and artist under another id),
//! features that are constant or outside their usual range, tiny classes, and the time
//! period of each row for out-of-time evaluation. Pure functions, no IO.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::Dataset;

/// What the copies of repeated track ids look like.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Copies {
    /// Rows whose track id appeared on an earlier row.
    pub duplicate_rows: usize,
    /// Tracks (ids) with more than one row.
    pub repeated_tracks: usize,
    /// Tracks whose rows carry both labels, sorted.
    pub label_conflicts: Vec<String>,
    /// Tracks whose rows differ in popularity.
    pub popularity_conflicts: usize,
    /// Tracks whose rows differ in at least one model feature.
    pub feature_conflicts: usize,
}

/// The first row of each track id, in row order.
pub fn first_rows(ids: &[String]) -> Vec<usize> {
    rows_first(&first_of(ids))
}

/// The rows that are their own first row, given [`first_of`].
pub(crate) fn rows_first(first_of: &[u32]) -> Vec<usize> {
    first_of
        .iter()
        .copied()
        .enumerate()
        .filter(|&(row, f)| f as usize == row)
        .map(|(row, _)| row)
        .collect()
}

/// For each row, the first row with the same id (the row itself for a first row).
///
/// Rows sorted by the hash of their id, on every thread, then grouped: 12 bytes a row, where
/// a map from `&str` took 52 MB at a million rows (ingest's largest allocation) and missed
/// the cache on every probe. Rows fit a `u32`: four billion ids would not fit in memory.
pub(crate) fn first_of(ids: &[String]) -> Vec<u32> {
    use rayon::prelude::*;
    use std::hash::BuildHasher;
    // Seeded per process against crafted collisions; the answer does not depend on it.
    let state = std::hash::RandomState::new();
    let mut keyed: Vec<(u64, u32)> = ids
        .par_iter()
        .enumerate()
        .map(|(row, id)| (state.hash_one(id.as_str()), row as u32))
        .collect();
    keyed.par_sort_unstable();
    let mut out = vec![0u32; ids.len()];
    for group in keyed.chunk_by(|a, b| a.0 == b.0) {
        // Rows ascend within a group; the ids that share a hash, each with its first row.
        let mut firsts: Vec<u32> = Vec::new();
        for &(_, row) in group {
            let id = &ids[row as usize];
            out[row as usize] = match firsts.iter().find(|&&f| ids[f as usize] == *id) {
                Some(&f) => f,
                None => {
                    firsts.push(row);
                    row
                }
            };
        }
    }
    out
}

/// Compares every later copy of a track id with its first row.
pub fn copies(data: &Dataset) -> Copies {
    copies_given(data, &first_of(&data.ids))
}

/// [`copies`] given [`first_of`] of the ids.
pub(crate) fn copies_given(data: &Dataset, first_of: &[u32]) -> Copies {
    // Per repeated track: [label differs, popularity differs, features differ].
    let mut differs: HashMap<usize, [bool; 3]> = HashMap::new();
    let mut out = Copies::default();
    for (row, &f) in first_of.iter().enumerate() {
        let f = f as usize;
        if f == row {
            continue;
        }
        out.duplicate_rows += 1;
        let d = differs.entry(f).or_default();
        d[0] |= data.y[row] != data.y[f];
        d[1] |= data.popularity.as_ref().is_some_and(|p| p[row] != p[f]);
        d[2] |= data.x.iter().any(|c| c[row] != c[f]);
    }
    out.repeated_tracks = differs.len();
    let mut labels: Vec<String> = Vec::new();
    for (&f, d) in &differs {
        if d[0] {
            labels.push(data.ids[f].clone());
        }
        out.popularity_conflicts += usize::from(d[1]);
        out.feature_conflicts += usize::from(d[2]);
    }
    labels.sort_unstable();
    out.label_conflicts = labels;
    out
}

/// Words that mark a version of a song rather than another song.
const VERSION_WORDS: [&str; 14] = [
    "remaster", "version", "single", "mono", "stereo", "live", "edit", "mix", "radio", "demo",
    "acoustic", "feat", "with ", "bonus",
];

fn is_version_tag(part: &str) -> bool {
    VERSION_WORDS.iter().any(|w| part.contains(w))
}

/// A title or artist reduced to what identifies the song: lower case, letters and digits
/// only, without version tags: a bracketed part or a ` - ` suffix that names a version
/// (`(Remastered 2011)`, `[Live]`, `- Single Version`, `(feat. X)`), or a `feat.` credit.
/// Other brackets and suffixes stay (`Act I - "Hier die Order!"` is its own song).
pub fn normalise(text: &str) -> String {
    let mut out = String::new();
    normalise_into(text, &mut out);
    out
}

/// Whether [`normalise`] of `text` is only its lower-cased words: ASCII with no bracket,
/// no ` - ` and no featuring credit (most titles and artists).
fn plain(text: &str) -> bool {
    let b = text.as_bytes();
    text.is_ascii()
        && !b.iter().any(|&c| c == b'(' || c == b'[')
        && !b.windows(3).any(|w| w == b" - ")
        && !b
            .windows(5)
            .any(|w| w.eq_ignore_ascii_case(b" feat") || w[..4].eq_ignore_ascii_case(b" ft."))
}

/// Appends [`normalise`] of `text` to `out`.
fn normalise_into(text: &str, out: &mut String) {
    if plain(text) {
        collapse_words(text, out);
    } else {
        normalise_general(text, out);
    }
}

/// [`normalise_into`] for any text (the plain case gives the same, faster).
fn normalise_general(text: &str, out: &mut String) {
    let mut t = text.to_lowercase();
    for cut in [" feat. ", " ft. ", " featuring "] {
        if let Some(p) = t.find(cut) {
            t.truncate(p);
        }
    }
    // Drop bracketed version tags (one level deep), keep other brackets' words.
    let mut kept = String::with_capacity(t.len());
    let mut rest = t.as_str();
    while let Some(open) = rest.find(['(', '[']) {
        kept.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find([')', ']']) {
            Some(close) => {
                let inner = &after[..close];
                if !is_version_tag(inner) {
                    kept.push(' ');
                    kept.push_str(inner);
                }
                rest = &after[close + 1..];
            }
            None => {
                rest = after;
            }
        }
    }
    kept.push_str(rest);
    // Then a ` - ` suffix naming a version (after the brackets, so `(1986 - Remaster), Act I`
    // loses only its bracket).
    if let Some(p) = kept.find(" - ") {
        if is_version_tag(&kept[p..]) {
            kept.truncate(p);
        }
    }
    collapse_words(&kept, out);
}

/// Appends the words (runs of alphanumeric characters) of `text` to `out`, lower-cased
/// where ASCII, one space between them (none before the first word `out` gets).
fn collapse_words(text: &str, out: &mut String) {
    let start = out.len();
    let mut space = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if space && out.len() > start {
                out.push(' ');
            }
            space = false;
            out.push(c.to_ascii_lowercase());
        } else {
            space = true;
        }
    }
}

/// The normalised `title — artist` key of row `i`, or `None` when either is unknown.
pub fn title_artist_key(data: &Dataset, i: usize) -> Option<String> {
    let mut key = String::new();
    title_artist_key_into(data, i, &mut key).then_some(key)
}

/// [`title_artist_key`] into `key` (cleared first), without allocating when `key` has room;
/// `false` when either part is unknown.
fn title_artist_key_into(data: &Dataset, i: usize, key: &mut String) -> bool {
    key.clear();
    normalise_into(&data.names[i], key);
    if key.is_empty() {
        return false;
    }
    let title = key.len();
    key.push('\u{1f}');
    normalise_into(&data.artists[i], key);
    key.len() > title + 1
}

/// Near-duplicates: songs (normalised title and artist) listed under more than one track id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NearDuplicates {
    /// Songs with rows under two or more ids.
    pub songs: usize,
    /// Rows whose song appeared on an earlier row under another id.
    pub rows: usize,
    /// Up to three examples, `title — artist`, from the data as written.
    pub examples: Vec<String>,
}

/// Counts near-duplicates in `data`.
pub fn near_duplicates(data: &Dataset) -> NearDuplicates {
    near_duplicates_of(data, false)
}

/// [`near_duplicates`], told whether every track id in `data` is distinct (as after
/// dropping repeated ids): then each row of a song seen before is a new id, and no set of
/// ids is needed.
pub(crate) fn near_duplicates_of(data: &Dataset, ids_distinct: bool) -> NearDuplicates {
    struct Song {
        first: usize,
        index: usize,
        ids: usize,
    }
    // Distinct (song, id) pairs in a set, not a list per song: a song listed under thousands
    // of ids (a catalogue's "Intro") would otherwise make the count quadratic.
    let mut songs: HashMap<String, Song> = HashMap::new();
    let mut seen: HashSet<(usize, &str)> = HashSet::new();
    let mut out = NearDuplicates::default();
    let mut key = String::new();
    for i in 0..data.len() {
        if !title_artist_key_into(data, i, &mut key) {
            continue;
        }
        let song = match songs.get_mut(key.as_str()) {
            Some(song) => song,
            None => {
                let index = songs.len();
                songs.entry(key.clone()).or_insert(Song {
                    first: i,
                    index,
                    ids: 0,
                })
            }
        };
        if !ids_distinct && !seen.insert((song.index, data.ids[i].as_str())) {
            continue;
        }
        song.ids += 1;
        if song.ids >= 2 {
            out.rows += 1;
            if song.ids == 2 {
                out.songs += 1;
                if out.examples.len() < 3 {
                    let f = song.first;
                    out.examples
                        .push(format!("{} — {}", data.names[f], data.artists[f]));
                }
            }
        }
    }
    out
}

/// A feature's usual range on Spotify data, where values outside it are legal but suspect
/// (tempo 0 is Spotify's "unknown", loudness above 0 dB is clipped audio).
fn usual_range(name: &str) -> Option<(f64, f64)> {
    Some(match name {
        "tempo" => (40.0, 250.0),
        "loudness" => (-60.0, 0.0),
        "duration_ms" => (30_000.0, 1_200_000.0),
        "time_signature" => (1.0, 7.0),
        _ => return None,
    })
}

/// Warnings about `data`'s features: constant columns and values outside the usual range.
pub fn feature_warnings(data: &Dataset) -> Vec<String> {
    let mut w = Vec::new();
    for (name, col) in data.feature_names.iter().zip(&data.x) {
        if col.iter().all(|v| *v == col[0]) {
            w.push(format!(
                "feature `{name}` is constant ({}): it cannot help any model",
                col[0]
            ));
            continue;
        }
        if let Some((lo, hi)) = usual_range(name) {
            let outside = col.iter().filter(|v| **v < lo || **v > hi).count();
            if outside > 0 {
                let zeros = col.iter().filter(|v| **v == 0.0).count();
                let unknown = if zeros > 0 && matches!(name.as_str(), "tempo" | "time_signature") {
                    format!(" ({zeros} of them 0, Spotify's \"unknown\")")
                } else {
                    String::new()
                };
                w.push(format!(
                    "feature `{name}`: {outside} rows ({:.2} %) lie outside its usual range {lo}–{hi}{unknown}",
                    100.0 * outside as f64 / col.len() as f64
                ));
            }
        }
    }
    w
}

/// Fewest tracks of a class, on either side of the split, below which metrics are noise.
pub const TINY_CLASS: usize = 30;

/// Warnings about classes too small to measure on: fewer than [`TINY_CLASS`] tracks of a
/// class among `rows` (`side` names them), or a class under 2 % of all tracks.
pub fn class_warnings(y: &[u8], rows: &[usize], side: &str) -> Vec<String> {
    let hits = rows.iter().filter(|&&i| y[i] == 1).count();
    let counts = [rows.len() - hits, hits];
    let mut w = Vec::new();
    for (class, name) in [(1, "hits"), (0, "non-hits")] {
        if counts[class] < TINY_CLASS {
            w.push(format!(
                "the {side} has only {} {name}: its metrics swing widely with a few tracks",
                counts[class]
            ));
        } else if (counts[class] as f64) < 0.02 * rows.len() as f64 {
            w.push(format!(
                "{name} are only {:.1} % of the {side}: accuracy says little, read PR AUC",
                100.0 * counts[class] as f64 / rows.len() as f64
            ));
        }
    }
    w
}

/// The year a period cell starts with (`1960`, `1960s`, `1999-01-01`), or `None` when it
/// does not start with a plausible four-digit year.
pub fn year_of(cell: &str) -> Option<i64> {
    let t = cell.trim();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return None;
    }
    let year: i64 = digits.parse().ok()?;
    (1800..=2200).contains(&year).then_some(year)
}

/// The decade of each cell (`1999-01-01` → 1990), or `None` unless every cell has a year.
pub fn decades(cells: &[String]) -> Option<Vec<i64>> {
    cells
        .iter()
        .map(|c| year_of(c).map(|y| y - y.rem_euclid(10)))
        .collect()
}

/// Warnings about repeated track ids: how many rows repeat, whether they were dropped, and
/// how their copies disagree.
pub fn duplicate_warnings(c: &Copies, dropped: bool) -> Vec<String> {
    let mut w = Vec::new();
    if c.duplicate_rows == 0 {
        return w;
    }
    w.push(if dropped {
        format!(
            "{} rows repeat an earlier track id ({} tracks listed more than once): the first row of each is kept, the other {} dropped (--keep-duplicates keeps them, still one side per track)",
            c.duplicate_rows, c.repeated_tracks, c.duplicate_rows
        )
    } else {
        format!(
            "{} rows repeat an earlier track id ({} tracks): all kept, and every split keeps a track's rows on one side",
            c.duplicate_rows, c.repeated_tracks
        )
    });
    let mut disagree = Vec::new();
    if !c.label_conflicts.is_empty() {
        let shown: Vec<&str> = c
            .label_conflicts
            .iter()
            .take(3)
            .map(String::as_str)
            .collect();
        disagree.push(format!(
            "{} on the label (e.g. {})",
            c.label_conflicts.len(),
            shown.join(", ")
        ));
    }
    if c.popularity_conflicts > 0 {
        disagree.push(format!("{} on popularity", c.popularity_conflicts));
    }
    if c.feature_conflicts > 0 {
        disagree.push(format!("{} on the features", c.feature_conflicts));
    }
    if !disagree.is_empty() {
        w.push(format!(
            "copies of the same track disagree: {}",
            disagree.join("; ")
        ));
    }
    w
}

/// A warning about near-duplicates, saying whether the split keeps them together.
pub fn near_duplicate_warning(n: &NearDuplicates, by: super::GroupBy) -> Option<String> {
    (n.songs > 0).then(|| {
        format!(
            "{} songs appear under more than one track id with the same title and artist ({} extra rows, e.g. {}): a single and its album version; {}",
            n.songs,
            n.rows,
            n.examples.join("; "),
            match by {
                super::GroupBy::TitleArtist => "the split keeps them together",
                super::GroupBy::Track => {
                    "they can sit on both sides of the split (--group-by title-artist keeps them together)"
                }
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_matches_a_map_of_first_rows() {
        // Sizes around the table's growth, ids repeated near and far, and the empty id.
        for n in [0usize, 1, 7, 8, 9, 1000, 4099] {
            let ids: Vec<String> = (0..n)
                .map(|i| match i % 5 {
                    0 => String::new(),
                    1 => format!("id{}", i % 37),
                    _ => format!("id{}", i * 7919 % 1009),
                })
                .collect();
            let mut first: HashMap<&str, u32> = HashMap::new();
            let want: Vec<u32> = ids
                .iter()
                .enumerate()
                .map(|(row, id)| *first.entry(id.as_str()).or_insert(row as u32))
                .collect();
            assert_eq!(first_of(&ids), want, "{n}");
            let rows: Vec<usize> = (0..n).filter(|&r| want[r] as usize == r).collect();
            assert_eq!(first_rows(&ids), rows);
        }
    }

    #[test]
    fn normalise_drops_versions_and_punctuation() {
        assert_eq!(normalise("Hey Jude - Remastered 2015"), "hey jude");
        assert_eq!(normalise("Hey  Jude (Single Version)"), "hey jude");
        assert_eq!(normalise("HEY JUDE [Live]"), "hey jude");
        assert_eq!(normalise("Don't Stop feat. X"), "don t stop");
        assert_eq!(normalise("Song (feat. Y) - Radio Edit"), "song");
        assert_eq!(normalise("The Beatles"), "the beatles");
        // Parts that name another song, not a version, stay.
        assert_eq!(
            normalise("Carmen: Act I - Hier die Order!"),
            "carmen act i hier die order"
        );
        assert_eq!(normalise("Symphony (Part 2)"), "symphony part 2");
        assert_ne!(
            normalise("Symphony (Part 2)"),
            normalise("Symphony (Part 3)")
        );
    }

    #[test]
    fn near_duplicates_count_each_new_id_of_a_song_once() {
        let rows = [
            ("a", "Intro", "X"),
            ("b", "Intro (Live)", "X"),
            ("a", "Intro", "X"),
            ("c", "intro", "x"),
            ("b", "Intro", "X"),
            ("d", "Outro", "X"),
            ("d", "Outro", "X"),
            ("e", "Song", "Y"),
            ("f", "Song - Remastered 2015", "Y"),
        ];
        let n = rows.len();
        let mut data = Dataset::from_columns(
            ["x"],
            vec![vec![0.5; n]],
            (0..n).map(|i| (i % 2) as u8).collect(),
        )
        .unwrap();
        data.ids = rows.iter().map(|r| r.0.to_string()).collect();
        data.names = rows.iter().map(|r| r.1.to_string()).collect();
        data.artists = rows.iter().map(|r| r.2.to_string()).collect();
        let near = near_duplicates(&data);
        // Intro under a, b, c (two extra ids); Outro under one id only; Song under e, f.
        assert_eq!(near.songs, 2, "{near:?}");
        assert_eq!(near.rows, 3, "{near:?}");
        assert_eq!(near.examples, ["Intro — X", "Song — Y"]);
        // One song under many ids counts every extra id (and stays linear: a set, not a
        // list per song).
        let many = 5000;
        let mut big = Dataset::from_columns(
            ["x"],
            vec![vec![0.5; many]],
            (0..many).map(|i| (i % 2) as u8).collect(),
        )
        .unwrap();
        big.names = vec!["Intro".into(); many];
        big.artists = vec!["X".into(); many];
        let near = near_duplicates(&big);
        assert_eq!((near.songs, near.rows), (1, many - 1));
        // Told the ids are distinct (they are: row numbers), the count is the same.
        assert_eq!(near_duplicates_of(&big, true), near);
        assert_eq!(near_duplicates_of(&data, false), near_duplicates(&data));
    }

    #[test]
    fn plain_text_takes_the_short_way_to_the_same_key() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let pieces = [
            "Hey",
            "JUDE",
            " ",
            "  ",
            "-",
            " - ",
            "feat",
            " feat. ",
            " ft. ",
            " Ft.",
            "(",
            ")",
            "[",
            "]",
            "Live",
            "Remastered 2015",
            "AC/DC",
            "Don't",
            "!",
            "é",
            "Ünïcode",
            "99",
            "featuring",
            " FEATURING ",
            "x",
        ];
        let mut plain_seen = 0;
        for _ in 0..20_000 {
            let text: String = (0..rng.gen_range(0..8))
                .map(|_| pieces[rng.gen_range(0..pieces.len())])
                .collect();
            let (mut fast, mut general) = ("k".to_string(), "k".to_string());
            normalise_into(&text, &mut fast);
            normalise_general(&text, &mut general);
            assert_eq!(fast, general, "{text:?}");
            plain_seen += usize::from(plain(&text));
        }
        assert!(plain_seen > 1000, "{plain_seen}");
        assert_eq!(normalise("AC/DC"), "ac dc");
        assert_eq!(normalise("Song ft."), "song ft");
    }

    #[test]
    fn years_and_decades_from_dates_and_decade_labels() {
        assert_eq!(year_of("1999-01-01"), Some(1999));
        assert_eq!(year_of("1960"), Some(1960));
        assert_eq!(year_of("2010s"), Some(2010));
        assert_eq!(year_of("99"), None);
        assert_eq!(year_of("12345"), None);
        assert_eq!(year_of(""), None);
        let cells: Vec<String> = ["1999-05-01", "2001", "1960"].map(String::from).into();
        assert_eq!(decades(&cells), Some(vec![1990, 2000, 1960]));
        let bad: Vec<String> = ["1999", "soon"].map(String::from).into();
        assert_eq!(decades(&bad), None);
    }

    #[test]
    fn tiny_classes_are_named() {
        let y: Vec<u8> = (0..100).map(|i| u8::from(i < 5)).collect();
        let rows: Vec<usize> = (0..100).collect();
        let w = class_warnings(&y, &rows, "holdout");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("only 5 hits"), "{w:?}");
    }
}
