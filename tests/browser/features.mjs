// Browser test of the what-if page with 15-feature models (tests/fixtures/all_features.csv,
// `--features all`): sliders grouped and labelled with units (BPM, dB, minutes and seconds,
// note names, major/minor), a whole-numbered slider stepping by one from the keyboard, every
// curve drawn, the phone layout without sideways scrolling, contrast in both schemes, and
// screenshots of the desktop and phone layouts.
// Usage: node features.mjs http://127.0.0.1:8597/ target/
import { open, probabilitiesShown, checkPage, checkContrast, desktopAndPhone } from "./launch.mjs";

const [url, out] = process.argv.slice(2);
const fail = (why) => { throw new Error(why); };
const { browser, page, seen, violations } = await open(url);
try {
  await probabilitiesShown(page);
  await page.waitForFunction(() => document.querySelectorAll("svg.curve").length === 15);
  const layout = await page.evaluate(() => ({
    groups: [...document.querySelectorAll("#features legend")].map((l) => l.textContent),
    sliders: document.querySelectorAll("#features input[type=range]").length,
    shown: Object.fromEntries([...document.querySelectorAll(".shown")].map((s) => [s.id.slice(2), s.textContent])),
    keyStep: document.getElementById("r-key").step,
  }));
  const want = ["Mood", "Rhythm", "Harmony", "Sound", "Structure"];
  if (JSON.stringify(layout.groups) !== JSON.stringify(want)) fail("groups: " + layout.groups.join(", "));
  if (layout.sliders !== 15) fail(`${layout.sliders} sliders`);
  const units = { tempo: / BPM$/, loudness: / dB$/, duration_ms: /^\d+:\d\d min$/, key: /^(C|C♯|D|D♯|E|F|F♯|G|G♯|A|A♯|B|no key)$/, mode: /^(major|minor)$/ };
  for (const [name, re] of Object.entries(units)) if (!re.test(layout.shown[name])) fail(`${name} shown as "${layout.shown[name]}"`);
  if (layout.keyStep !== "1") fail("the key slider steps by " + layout.keyStep);
  // Keyboard: the key slider moves one semitone per press, and says the note.
  const key0 = await page.evaluate(() => Number(document.getElementById("n-key").value));
  await page.focus("#r-key");
  await page.keyboard.press(key0 < 11 ? "ArrowRight" : "ArrowLeft");
  await page.waitForFunction((k) => Number(document.getElementById("n-key").value) !== k, key0);
  const key1 = await page.evaluate(() => [Number(document.getElementById("n-key").value), document.getElementById("s-key").textContent]);
  const notes = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];
  if (Math.abs(key1[0] - key0) !== 1 || key1[1] !== notes[key1[0]]) fail(`key ${key0} -> ${key1.join(" ")}`);
  await page.waitForFunction(() => location.search.includes("key="));
  await checkPage(page);
  await checkContrast(page);
  await desktopAndPhone(page, out + "dashboard-15");
  if (seen.errors.length) fail("page errors: " + seen.errors.join("; "));
  const v = await violations();
  if (v.length) fail("the page broke its own Content-Security-Policy: " + v.join("; "));
  console.log(`15 features: groups ${layout.groups.join(", ")}; key ${key0} -> ${key1[0]} (${key1[1]}); ` +
    `tempo ${layout.shown.tempo}, loudness ${layout.shown.loudness}, duration ${layout.shown.duration_ms}, mode ${layout.shown.mode}`);
} finally {
  await browser.close();
}
