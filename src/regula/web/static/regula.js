/* regula: small progressive enhancement. Every page works without this file; with it, a select can submit its
   form on change, a search box filters a select's options, CPF and CNS are checked as they are typed (the server
   checks them again), and a long-running form cannot be sent twice. */
(function () {
  "use strict";

  function digits(value) { return (value || "").replace(/[.\-\/\s]/g, ""); }

  function cpfMessage(raw) {
    var d = digits(raw);
    if (!d) return "";
    if (!/^\d+$/.test(d)) return "Use apenas números (pontos e traço são aceitos).";
    if (d.length !== 11) return "O CPF deve ter 11 dígitos; foram informados " + d.length + ".";
    if (/^(\d)\1{10}$/.test(d)) return "CPF inválido: números com todos os dígitos iguais não são aceitos.";
    function dv(slice) {
      var weight = slice.length + 1, total = 0;
      for (var i = 0; i < slice.length; i++) total += Number(slice[i]) * (weight - i);
      var r = total % 11;
      return r < 2 ? 0 : 11 - r;
    }
    var first = dv(d.slice(0, 9));
    var second = dv(d.slice(0, 9) + first);
    return d.slice(9) === "" + first + second ? "" : "CPF inválido: os dígitos verificadores não conferem.";
  }

  function cnsMessage(raw) {
    var d = digits(raw);
    if (!d) return "";
    if (!/^\d+$/.test(d)) return "Use apenas números.";
    if (d.length !== 15) return "O CNS deve ter 15 dígitos; foram informados " + d.length + ".";
    function weighted(s) { var t = 0; for (var i = 0; i < s.length; i++) t += Number(s[i]) * (15 - i); return t; }
    var ok;
    if ("12".indexOf(d[0]) >= 0) {
      var pis = d.slice(0, 11), total = weighted(pis), v = 11 - (total % 11);
      if (v === 11) v = 0;
      var rebuilt = v === 10 ? pis + "001" + (11 - ((total + 2) % 11)) : pis + "000" + v;
      ok = rebuilt === d;
    } else if ("789".indexOf(d[0]) >= 0) {
      ok = weighted(d) % 11 === 0;
    } else {
      return "CNS inválido: o número deve começar com 1 ou 2 (definitivo) ou com 7, 8 ou 9 (provisório).";
    }
    return ok ? "" : "CNS inválido: o dígito verificador não confere.";
  }

  function liveCheck(input) {
    var check = input.getAttribute("data-documento") === "cpf" ? cpfMessage : cnsMessage;
    var id = "js-erro-" + input.id;
    function update() {
      var message = check(input.value);
      var node = document.getElementById(id);
      if (!node) {
        node = document.createElement("p");
        node.id = id;
        node.className = "erro-campo";
        node.setAttribute("aria-live", "polite");
        input.insertAdjacentElement("afterend", node);
        var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
        described.push(id);
        input.setAttribute("aria-describedby", described.join(" "));
      }
      node.textContent = message;
      if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    }
    input.addEventListener("blur", update);
    input.addEventListener("input", function () {
      var d = digits(input.value);
      // While typing, speak up only once the number is complete.
      if (d.length >= (input.getAttribute("data-documento") === "cpf" ? 11 : 15) || !d) update();
    });
  }

  function filterOptions(input) {
    var select = document.getElementById(input.getAttribute("data-filtra"));
    if (!select) return;
    function normalize(s) { return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); }
    input.addEventListener("input", function () {
      var term = normalize(input.value.trim());
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;
        option.hidden = term !== "" && normalize(option.textContent).indexOf(term) < 0;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-autoenvio]").forEach(function (select) {
      select.addEventListener("change", function () { if ((select.value || !select.required) && select.form) select.form.submit(); });
    });
    document.querySelectorAll("input[data-filtra]").forEach(filterOptions);
    document.querySelectorAll("input[data-documento]").forEach(liveCheck);
    document.querySelectorAll("button[data-ocupado]").forEach(function (button) {
      if (!button.form) return;
      button.form.addEventListener("submit", function () {
        window.setTimeout(function () {
          button.disabled = true;
          button.textContent = button.getAttribute("data-ocupado");
        }, 0);
      });
    });
  });
})();
