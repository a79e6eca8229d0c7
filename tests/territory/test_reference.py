"""The in-memory territory reference, checked against what the shipped data says."""

from __future__ import annotations

import csv
import io
import re
from importlib import resources

import pytest

from regula.access.policy import Jurisdiction, Place
from regula.core.errors import ValidationFailed
from regula.territory.reference import (
    Municipality,
    Territory,
    haversine_km,
    ibge_check_digit,
    repair_mojibake,
    search_key,
    territory,
)

FLORIANOPOLIS = "4205407"
JOINVILLE = "4209102"

# The nine municipalities whose IBGE code breaks the check-digit rule (see data/territory/SOURCE.md).
CHECK_DIGIT_EXCEPTIONS = {
    "2201919",  # Bom Princípio do Piauí
    "2201988",  # Brejo do Piauí
    "2202251",  # Canavieira
    "2611533",  # Quixaba
    "3117836",  # Cônego Marinho
    "3152131",  # Ponto Chique
    "4305871",  # Coronel Barros
    "5203939",  # Buriti de Goiás
    "5203962",  # Buritinópolis
}


@pytest.fixture(scope="module")
def ref() -> Territory:
    return territory()


def test_counts_match_the_data(ref: Territory) -> None:
    assert len(ref) == 5570
    assert len(ref.municipalities) == 5570
    assert len(ref.ufs()) == 27
    assert len(ref.macro_regions()) == 118
    assert len(ref.by_uf("SC")) == 295
    assert len(ref.health_regions("SC")) == 17
    assert [r.code for r in ref.health_regions("SC")] == [f"420{n:02d}" for n in range(1, 18)]
    assert [m.code for m in ref.macro_regions("SC")] == [str(c) for c in range(4210, 4217)]
    assert sum(m.population for m in ref.by_uf("SC")) == 7_164_788  # IBGE 2019 estimate for the state


def test_package_data_is_read_from_the_package_not_the_shared_folder() -> None:
    resource = resources.files("regula").joinpath("data", "territory", "municipios.csv")
    assert resource.is_file()
    assert resources.files("regula").joinpath("data", "territory", "SOURCE.md").is_file()


def test_territory_is_cached() -> None:
    assert territory() is territory()


def test_lookup_by_six_and_seven_digits_is_the_same_municipality(ref: Territory) -> None:
    seven = ref.municipality(FLORIANOPOLIS)
    assert ref.municipality("420540") is seven
    assert ref.municipality("  4205407 ") is seven
    assert ref.find("420540") is seven
    assert seven.ibge_code6 == "420540"
    for m in ref.municipalities[::97]:
        assert ref.municipality(m.ibge_code6) is ref.municipality(m.ibge_code) is m


def test_florianopolis_as_the_data_says(ref: Territory) -> None:
    m = ref.municipality(FLORIANOPOLIS)
    assert m.name == "Florianópolis"  # the file's double-encoded text is repaired
    assert m.label == "Florianópolis/SC"
    assert m.search_name == "FLORIANOPOLIS"
    assert (m.uf, m.uf_code) == ("SC", "42")
    assert (m.macro_code, m.macro_name) == ("4214", "Grande Florianópolis")
    # Region 42007 (Grande Florianópolis); 42001 is the Extremo Oeste, on the other side of the state.
    assert (m.health_region_code, m.health_region_name) == ("42007", "Grande Florianópolis")
    assert m.population == 500_973
    assert ref.health_region("42001") is not None
    assert ref.health_region("42001").name == "Extremo Oeste"  # type: ignore[union-attr]


def test_health_regions_only_for_santa_catarina(ref: Territory) -> None:
    with_region = [m for m in ref.municipalities if m.health_region_code is not None]
    assert len(with_region) == 295
    assert {m.uf for m in with_region} == {"SC"}
    assert ref.health_regions("SP") == ()
    assert ref.municipality("3550308").health_region_code is None  # São Paulo


def test_each_health_region_lies_in_one_macro_region(ref: Territory) -> None:
    for region in ref.health_regions("SC"):
        members = [m for m in ref.by_uf("SC") if m.health_region_code == region.code]
        assert members
        assert {m.macro_code for m in members} == {region.macro_code}
    assert ref.health_region("42007").macro_code == "4214"  # type: ignore[union-attr]


def test_names_have_no_mojibake(ref: Territory) -> None:
    # Double-encoded text shows as Ã or Â followed by a C1/Latin-1 continuation character (Ã³, Âª, Ã\xad).
    double_encoded = re.compile("[ÃÂ][\u0080-\u00bf]")
    for m in ref.municipalities:
        assert not double_encoded.search(m.name), m
        assert not double_encoded.search(m.macro_name), m
        assert repair_mojibake(m.name) == m.name
    assert ref.municipality("4101150").name == "Ângulo"  # a real Â, left alone
    assert ref.municipality("2201919").name == "Bom Princípio do Piauí"
    assert ref.municipality("3550308").name == "São Paulo"
    assert any(m.macro_name.startswith("1ª") for m in ref.by_uf("CE"))


def test_repair_mojibake_leaves_correct_text_alone() -> None:
    assert repair_mojibake("FlorianÃ³polis") == "Florianópolis"
    assert repair_mojibake("Florianópolis") == "Florianópolis"
    assert repair_mojibake("Joinville") == "Joinville"
    assert repair_mojibake("São João") == "São João"


def test_unknown_code_names_the_field(ref: Territory) -> None:
    with pytest.raises(ValidationFailed) as info:
        ref.municipality("9999996")
    assert info.value.code == "municipio_desconhecido"
    assert [(e.field, e.code) for e in info.value.errors] == [("municipality_ibge", "municipio_desconhecido")]

    with pytest.raises(ValidationFailed) as info:
        ref.municipality("999999", field="rows[3].municipio")
    assert info.value.errors[0].field == "rows[3].municipio"
    assert info.value.errors[0].code == "municipio_desconhecido"
    assert ref.find("9999996") is None


def test_unknown_seven_digit_code_message_explains(ref: Territory) -> None:
    # Known 6-digit prefix, wrong last digit: the message points at the right code.
    with pytest.raises(ValidationFailed) as info:
        ref.municipality("4205400")
    assert info.value.code == "municipio_desconhecido"
    assert "4205407" in info.value.message and "Florianópolis" in info.value.message
    # Unknown prefix and a failing check digit: said so.
    with pytest.raises(ValidationFailed) as info:
        ref.municipality("9999999")
    assert info.value.code == "municipio_desconhecido"
    assert "dígito verificador" in info.value.message


@pytest.mark.parametrize("bad", ["", "   ", "42054", "42054070", "42O5407", "4205407a", "4205-407", "٤٢٠٥٤٠٧"])
def test_malformed_code(ref: Territory, bad: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        ref.municipality(bad, field="municipio")
    assert info.value.code == "municipio_formato"
    assert info.value.errors[0].field == "municipio"
    assert ref.find(bad) is None


def test_ibge_check_digit_holds_except_for_nine_known_codes(ref: Territory) -> None:
    failing = {m.ibge_code for m in ref.municipalities if ibge_check_digit(m.ibge_code6) != int(m.ibge_code[6])}
    assert failing == CHECK_DIGIT_EXCEPTIONS
    # The exceptions are real municipalities and are accepted: the table is the truth.
    for code in CHECK_DIGIT_EXCEPTIONS:
        assert ref.municipality(code).ibge_code == code
    assert ibge_check_digit("420540") == 7
    assert ibge_check_digit("355030") == 8  # São Paulo, 3550308
    with pytest.raises(ValueError, match="6 digits"):
        ibge_check_digit("42054")


def test_distance_florianopolis_joinville(ref: Territory) -> None:
    d = ref.distance_km(FLORIANOPOLIS, JOINVILLE)
    assert 140 < d < 150  # about 146 km in a straight line
    assert ref.distance_km("420910", ref.municipality(FLORIANOPOLIS)) == pytest.approx(d)
    assert ref.distance_km(FLORIANOPOLIS, FLORIANOPOLIS) == 0


def test_haversine_known_values() -> None:
    # One degree of latitude along a meridian: ~111.2 km with the mean Earth radius.
    assert haversine_km(0, 0, 1, 0) == pytest.approx(111.195, abs=0.01)
    # Antipodes: half the circumference.
    assert haversine_km(0, 0, 0, 180) == pytest.approx(20015.1, abs=0.1)


def test_by_uf_is_case_insensitive_and_lenient_for_unknown(ref: Territory) -> None:
    assert ref.by_uf(" sc ") == ref.by_uf("SC")
    assert all(m.uf == "SC" for m in ref.by_uf("SC"))
    assert ref.by_uf("XX") == ()
    assert ref.macro_regions("XX") == ()


def test_uf_lookup(ref: Territory) -> None:
    sc = ref.uf("sc")
    assert (sc.code, sc.sigla, sc.name) == ("42", "SC", "Santa Catarina")
    assert [u.sigla for u in ref.ufs()][:3] == ["RO", "AC", "AM"]
    with pytest.raises(ValidationFailed) as info:
        ref.uf("XX")
    assert info.value.code == "uf_desconhecida"
    assert info.value.errors[0].field == "uf"


def test_search_ignores_accents_and_case(ref: Territory) -> None:
    hits = ref.search("sao jose", uf="SC")
    assert [m.name for m in hits][:1] == ["São José"]
    assert all(m.uf == "SC" and "SAO JOSE" in m.search_name for m in hits)
    assert ref.search("florianópolis")[0].ibge_code == FLORIANOPOLIS
    assert len(ref.search("a", limit=5)) == 5


def test_search_key() -> None:
    assert search_key("  São  José do Cedro ") == "SAO JOSE DO CEDRO"
    assert search_key("Olho d'Água das Cunhãs") == "OLHO D'AGUA DAS CUNHAS"


def test_municipality_is_a_place_for_jurisdictions(ref: Territory) -> None:
    m: Place = ref.municipality(FLORIANOPOLIS)
    assert Jurisdiction.parse("uf:SC").covers_place(m)
    assert Jurisdiction.parse("macro:4214").covers_place(m)
    assert Jurisdiction.parse("region:42007").covers_place(m)
    assert not Jurisdiction.parse("region:42001").covers_place(m)
    assert Jurisdiction.parse("municipality:4205407").covers_place(m)


def test_municipality_is_frozen(ref: Territory) -> None:
    m = ref.municipality(FLORIANOPOLIS)
    with pytest.raises(AttributeError):
        m.name = "x"  # type: ignore[misc]


def _csv(header: str, *rows: str) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


MUN_HEADER = "ibge_code,ibge_code6,name,uf,uf_code,latitude,longitude,macro_code,macro_name,population_2019"
REG_HEADER = "ibge_code6,name,health_region_code,health_region_name"


def test_inconsistent_data_is_refused() -> None:
    good = "4205407,420540,Florianópolis,SC,42,-27.5878,-48.54764,4214,GRANDE FLORIANOPOLIS,500973"
    assert len(Territory.from_csv(_csv(MUN_HEADER, good), _csv(REG_HEADER))) == 1
    with pytest.raises(ValueError, match="bad IBGE code"):
        Territory.from_csv(_csv(MUN_HEADER, good.replace("420540,", "420541,", 1)), _csv(REG_HEADER))
    with pytest.raises(ValueError, match="inconsistent UF"):
        Territory.from_csv(_csv(MUN_HEADER, good.replace(",SC,", ",PR,")), _csv(REG_HEADER))
    with pytest.raises(ValueError, match="unknown municipalities"):
        Territory.from_csv(_csv(MUN_HEADER, good), _csv(REG_HEADER, "420910,JOINVILLE,42011,NORDESTE"))
    # A health region whose municipalities fall in two macro-regions contradicts the model.
    other = "4209102,420910,Joinville,SC,42,-26.30452,-48.84941,4211,PLANALTO NORTE E NORDESTE,590466"
    regions = _csv(REG_HEADER, "420540,FLORIANOPOLIS,42007,X", "420910,JOINVILLE,42007,X")
    with pytest.raises(ValueError, match="spans macro-regions"):
        Territory.from_csv(_csv(MUN_HEADER, good, other), regions)


def test_shipped_region_file_agrees_with_the_reference(ref: Territory) -> None:
    text = resources.files("regula").joinpath("data", "territory", "regioes_saude_sc.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 295
    for row in rows:
        m = ref.municipality(row["ibge_code6"])
        assert m.health_region_code == row["health_region_code"]
        assert isinstance(m, Municipality)


def test_santa_catarinas_regions_and_macro_regions_carry_their_accents(ref: Territory) -> None:
    # Issue 17: region names showed as "Grande Florianopolis", "Medio Vale do Itajai", "Xanxere".
    floripa = ref.municipality("4205407")
    assert floripa.health_region_name == "Grande Florianópolis"
    assert floripa.macro_name == "Grande Florianópolis"
    assert ref.municipality("4219507").health_region_name == "Xanxerê"
    names = {m.health_region_name for m in ref.by_uf("SC")}
    assert len(names) == 17 and not any(n is None or n.isupper() for n in names)
    assert "Médio Vale do Itajaí" in names and "Carbonífera" in names


def test_lauro_muller_is_spelled_as_ibge_spells_it(ref: Territory) -> None:
    assert ref.municipality("4209607").name == "Lauro Müller"
    assert [m.name for m in ref.search("lauro muller", uf="SC")] == ["Lauro Müller"]
