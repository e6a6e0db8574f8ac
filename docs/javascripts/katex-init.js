// Render the LaTeX that pymdownx.arithmatex (generic mode) leaves in the page as
// \( ... \) and \[ ... \], with the KaTeX copy in docs/assets/katex (no CDN).
// Material's document$ fires on every page load, including instant navigation.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
