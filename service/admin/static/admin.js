// The admin page's own script: tidy search links, and the file upload (sent as the request's
// raw body, with its progress; the server answers the import's progress fragment, which htmx
// then keeps polling). Everything else is plain HTML forms.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Search: empty filters stay out of the query string, so shared links show what is filtered.
  document.querySelectorAll("form.search-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (control) {
        if (control.value === "" && (control.type !== "radio" || control.checked)) {
          control.disabled = true;
        }
      });
    });
  });

  var upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("submit", function (event) {
      event.preventDefault();
      sendFile(upload);
    });
  }
});

function sendFile(form) {
  var input = form.querySelector("input[type=file]");
  var box = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var text = document.getElementById("upload-text");
  var target = document.getElementById("import-task");
  var file = input.files && input.files[0];
  if (!file) {
    showProblem(target, "Choose a file first.");
    input.focus();
    return;
  }
  var limit = Number(form.dataset.maxBytes);
  if (limit && file.size > limit) {
    showProblem(target, "The file is larger than the upload limit (" + limit + " bytes).");
    return;
  }
  var params = new URLSearchParams();
  params.set("name", file.name);
  ["mode", "on_duplicate", "encoding"].forEach(function (name) {
    params.set(name, form.elements[name].value);
  });
  if (form.elements.dry_run.checked) {
    params.set("dry_run", "true");
  }
  var button = form.querySelector("button[type=submit]");
  button.disabled = true;
  box.hidden = false;
  bar.value = 0;
  text.textContent = "";
  target.textContent = "";

  var request = new XMLHttpRequest();
  request.open("POST", form.action + "?" + params.toString());
  request.setRequestHeader("Content-Type", "application/octet-stream");
  request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
  request.upload.addEventListener("progress", function (event) {
    if (event.lengthComputable) {
      bar.value = Math.round((100 * event.loaded) / event.total);
      text.textContent = Math.round(event.loaded / 1024) + " of " + Math.round(event.total / 1024) + " KB";
    }
  });
  request.addEventListener("load", function () {
    button.disabled = false;
    box.hidden = true;
    var type = request.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") === 0 && request.status !== 403) {
      target.innerHTML = request.responseText; // the server's own fragment, every value escaped there
      if (window.htmx) {
        window.htmx.process(target);
      }
    } else {
      showProblem(target, problemText(request));
    }
    form.reset();
  });
  request.addEventListener("error", function () {
    button.disabled = false;
    box.hidden = true;
    showProblem(target, "The upload failed: the connection was lost.");
  });
  request.send(file);
}

function problemText(request) {
  try {
    var body = JSON.parse(request.responseText);
    return body.message || "The upload was refused (" + request.status + ").";
  } catch (ignored) {
    var page = new DOMParser().parseFromString(request.responseText, "text/html");
    var message = page.querySelector(".error");
    return (message ? message.textContent : "The upload was refused") + " (" + request.status + ")";
  }
}

function showProblem(target, message) {
  var p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  target.textContent = "";
  target.appendChild(p);
}
