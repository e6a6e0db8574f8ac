// Render the LaTeX that pymdownx.arithmatex (generic mode) leaves in the page as
// \( ... \) and \[ ... \], with the KaTeX copy in docs/assets/katex (no CDN).
// Material's document$ fires on every page load, including instant navigation.
const REFNET_MATH = {
  delimiters: [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ],
  throwOnError: false,
};

document$.subscribe(({ body }) => {
  renderMathInElement(body, REFNET_MATH);
});

// The search results are written into the page as the reader types, from an index
// that holds the formulas as TeX: render them too, so the snippets show mathematics
// rather than \partial L. A formula cut in half by the snippet stays as text.
const refnetSearchResults = new MutationObserver((mutations) => {
  for (const mutation of mutations) {
    for (const node of mutation.addedNodes) {
      if (node.nodeType === Node.ELEMENT_NODE && !node.closest(".katex")) {
        renderMathInElement(node, REFNET_MATH);
      }
    }
  }
});

function refnetObserveSearch() {
  const results = document.querySelector(".md-search-result__list");
  if (results) {
    refnetSearchResults.observe(results, { childList: true, subtree: true });
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", refnetObserveSearch);
} else {
  refnetObserveSearch();
}
