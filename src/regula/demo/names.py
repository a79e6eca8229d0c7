"""Brazilian names for the demonstration data, with the Santa Catarina flavour of Azorean, German and Italian
settlement. Invented combinations: any resemblance to a real person is a coincidence of common names."""

from __future__ import annotations

from typing import Final

FEMALE_FIRST: Final[tuple[str, ...]] = (
    "Maria", "Ana", "Francisca", "Antônia", "Adriana", "Juliana", "Márcia", "Fernanda", "Patrícia", "Aline",
    "Sandra", "Camila", "Amanda", "Bruna", "Jéssica", "Letícia", "Júlia", "Luciana", "Vanessa", "Mariana",
    "Gabriela", "Beatriz", "Larissa", "Cláudia", "Rosângela", "Simone", "Daniela", "Rita", "Helena", "Alice",
    "Laura", "Valentina", "Sofia", "Isabela", "Manuela", "Cecília", "Lúcia", "Terezinha", "Ivone", "Marlene",
    "Neusa", "Ilse", "Irene", "Elisabete", "Rosa", "Sônia", "Vera", "Regina", "Cristiane", "Tatiane",
    "Priscila", "Carolina", "Rafaela", "Natália", "Heloísa", "Lorena", "Elaine", "Débora", "Jaqueline",
    "Ingrid", "Gisele", "Silvana", "Salete", "Noemi", "Edite", "Olga", "Lurdes", "Irma", "Hilda", "Elvira",
    "Odete", "Gertrudes", "Zenaide", "Dalva", "Catarina", "Luana", "Eduarda", "Kauane", "Yasmin", "Lívia",
)  # fmt: skip

MALE_FIRST: Final[tuple[str, ...]] = (
    "José", "João", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz", "Marcos", "Gabriel",
    "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe", "Rodrigo", "Manoel", "Mateus", "André",
    "Fernando", "Fábio", "Leonardo", "Gustavo", "Guilherme", "Leandro", "Tiago", "Anderson", "Ricardo",
    "Márcio", "Jorge", "Sebastião", "Alexandre", "Roberto", "Edson", "Diego", "Vítor", "Sérgio", "Cláudio",
    "Geraldo", "Adriano", "Luciano", "Júlio", "Renato", "Vinícius", "Rogério", "Samuel", "Ronaldo", "Mário",
    "Flávio", "Valdir", "Ademir", "Osmar", "Nelson", "Arno", "Egon", "Ivo", "Lauro", "Darci", "Juarez",
    "Heitor", "Arthur", "Davi", "Bernardo", "Miguel", "Enzo", "Benício", "Otávio", "Irineu", "Nilton",
    "Alcides", "Hélio", "Valmor", "Werner", "Dirceu", "Moacir", "Jair", "Wilson", "Emanuel",
)  # fmt: skip

# Second given names ("Maria *Aparecida*", "João *Carlos*").
FEMALE_MIDDLE: Final[tuple[str, ...]] = (
    "Aparecida", "de Fátima", "Cristina", "Helena", "Luiza", "Eduarda", "Clara", "Regina", "Lúcia", "Teresa",
    "Fernanda", "Vitória", "Alice", "Rosa", "das Graças",
)  # fmt: skip
MALE_MIDDLE: Final[tuple[str, ...]] = (
    "Carlos", "Antônio", "Eduardo", "Henrique", "Paulo", "Luiz", "Augusto", "Roberto", "Miguel", "Gabriel",
    "Francisco", "José", "Vinícius", "Pedro", "Lucas",
)  # fmt: skip

SURNAMES: Final[tuple[str, ...]] = (
    "da Silva", "dos Santos", "de Oliveira", "de Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
    "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira",
    "Barbosa", "Rocha", "Dias", "do Nascimento", "de Andrade", "Moreira", "Nunes", "Marques", "Machado",
    "Mendes", "de Freitas", "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Correia", "da Rosa",
    "da Luz", "da Cunha", "de Medeiros", "Pacheco", "Borges", "Camargo", "Vargas", "Amorim", "Farias",
    "Coelho", "Espíndola", "Prates", "Bittencourt", "Silveira", "Duarte", "Goulart", "Schmitz", "Schmidt",
    "Müller", "Becker", "Kuhn", "Hoffmann", "Wagner", "Koch", "Zimmermann", "Weber", "Fischer", "Klein",
    "Vogel", "Bauer", "Hack", "Rossi", "Bortolotto", "Zanella", "Dalla Costa", "Fontana", "Tomasi",
    "Bonetti", "Pavan", "Girardi", "Colombo", "Conti", "Zanatta", "Dal Pizzol", "Rech", "Sartori", "Furlan",
    "Bianchi", "Mazzuco", "Bernardi",
)  # fmt: skip

# Common surnames would appear more often than rare ones; the first ones are drawn more.
COMMON_SURNAMES: Final[tuple[str, ...]] = SURNAMES[:12]

# Family names of the Laklãnõ-Xokleng, Kaingang and Guarani communities of Santa Catarina.
INDIGENOUS_SURNAMES: Final[tuple[str, ...]] = (
    "Priprá", "Patté", "Gakran", "Namblá", "Crendo", "Caxias", "Kaingang", "Fidêncio", "Belino", "Benite",
    "Karai", "Werá",
)  # fmt: skip
