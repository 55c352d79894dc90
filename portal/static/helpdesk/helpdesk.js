// Help desk enhancements; every page works without them.
// 1. New ticket: suggest documentation pages while the subject is typed.
// 2. Staff ticket page: choosing a canned reply inserts it into the message box at once.
(function () {
  "use strict";

  function suggestDocs() {
    var form = document.getElementById("new-ticket-form");
    var subject = document.getElementById("subject");
    var section = document.getElementById("doc-suggestions");
    if (!form || !subject || !section || !window.fetch) {
      return;
    }
    var list = section.querySelector("ul");
    var url = form.getAttribute("data-suggest-url");
    var timer = null;
    var latest = 0;

    function show(results) {
      list.textContent = "";
      results.forEach(function (result) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = result.url;
        link.textContent = result.title;
        link.target = "_blank";
        link.rel = "noopener";
        item.appendChild(link);
        list.appendChild(item);
      });
      section.hidden = results.length === 0;
    }

    function lookUp() {
      var text = subject.value.trim();
      if (text.length < 3) {
        show([]);
        return;
      }
      var request = ++latest;
      fetch(url + "?q=" + encodeURIComponent(text), {
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          if (request === latest) {
            show(data.results || []);
          }
        })
        .catch(function () { /* suggestions are optional */ });
    }

    subject.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(lookUp, 300);
    });
  }

  function cannedReplies() {
    var select = document.getElementById("canned");
    var body = document.getElementById("body");
    if (!select || !body) {
      return;
    }
    select.addEventListener("change", function () {
      var template = document.getElementById("canned-" + select.value);
      if (!template) {
        return;
      }
      var text = template.content ? template.content.textContent : template.textContent;
      body.value = body.value.trim() ? body.value.replace(/\s+$/, "") + "\n\n" + text : text;
      select.value = "";
      body.focus();
    });
  }

  suggestDocs();
  cannedReplies();
}());
