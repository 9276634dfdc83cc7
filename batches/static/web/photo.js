/* Evidence photos: shrink a chosen photo in the browser before the form sends it.
 *
 * A phone's camera writes 12–50 MP photos of several megabytes; the server keeps at most
 * `data-shrink-to` pixels on the long side anyway (ATTACHMENT_MAX_SIDE). Shrunk here, the upload
 * is a few hundred kilobytes over the market's mobile network, and the server's work is small.
 * The picture is drawn upright (the camera's orientation applied) onto a canvas and sent as a
 * JPEG. Whatever this cannot do (an old browser, a format it cannot decode) leaves the chosen
 * file as it was: the server checks and reduces it itself (docs/web.md, "Photos").
 * `data-shrink-to="0"` (the GPS position is kept on purpose) sends the file untouched, since a
 * canvas drops the photo's EXIF with its position. */
(function () {
  "use strict";
  var QUALITY = 0.88;
  var pending = new WeakMap(); // input → the promise of its shrunk file

  function shrink(file, side) {
    if (!window.createImageBitmap || !window.DataTransfer || !/^image\//.test(file.type)) {
      return Promise.resolve(null);
    }
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      if (scale === 1 && file.type === "image/jpeg") {
        bitmap.close();
        return null; // small enough, and already what the server keeps
      }
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      var context = canvas.getContext("2d");
      context.fillStyle = "#fff"; // transparency becomes white, as on the server
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.imageSmoothingQuality = "high";
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          if (!blob) { resolve(null); return; }
          var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg", lastModified: file.lastModified }));
        }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return null; });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-shrink-to]")) return;
    var side = parseInt(input.getAttribute("data-shrink-to"), 10);
    var file = input.files && input.files[0];
    if (!file || !(side > 0)) return;
    input.setAttribute("data-shrinking", "");
    var done = shrink(file, side).then(function (smaller) {
      if (smaller && input.files[0] === file) {
        var transfer = new DataTransfer();
        transfer.items.add(smaller);
        input.files = transfer.files;
        input.setAttribute("data-shrunk", smaller.size);
      }
    }).finally(function () {
      input.removeAttribute("data-shrinking");
      pending.delete(input);
    });
    pending.set(input, done);
  });

  // A form sent while its photo is still being shrunk waits for it, then is sent again.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var inputs = form.querySelectorAll ? form.querySelectorAll("input[type=file][data-shrink-to]") : [];
    var waits = [];
    inputs.forEach(function (input) { if (pending.has(input)) waits.push(pending.get(input)); });
    if (!waits.length) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    var submitter = event.submitter || null;
    Promise.all(waits).then(function () {
      if (form.requestSubmit) form.requestSubmit(submitter); else form.submit();
    });
  }, true);
})();
